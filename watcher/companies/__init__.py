"""Who profits: the winners of award notices resolved into companies (identifiers checked
with python-stdnum, near names with rapidfuzz, `companies.yaml` overrides), and their storage.
May import db, match and the core; never web or cli."""
