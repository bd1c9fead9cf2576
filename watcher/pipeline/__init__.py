"""The pipeline: one poll of one source (`poll`), what runs after the polls (`cycle`),
the wiring of settings, database and matcher (`runtime`), the schedule (`scheduler`), the
sources file (`config`), rematch and export (`maintenance`). May import every stage below it
(sources, db, match, documents, publish, notify, core); never web or cli."""
