"""The web site: feeds, pages, health. Reads through `db/queries.py`; never talks to a portal."""
