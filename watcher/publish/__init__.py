"""Publishing: events rendered once per language into feed entries (`entries`, `pages`) and
written as Atom, JSON Feed and iCalendar documents (`feeds`, `companies`), read through
`reading`."""
