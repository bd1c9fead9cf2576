"""Documents of relevant notices: download (`sync`), versioned storage (`storage`),
text extraction (`text`). May import db, sources (the HTTP seam), core; never web or cli."""
