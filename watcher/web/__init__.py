"""The web site: feeds, pages, health. Reads through `web/listing.py` and `publish/reading.py`; never talks to a portal."""
