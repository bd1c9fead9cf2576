"""The pure core: text and date normalisation, field diffs, procedure timelines, YAML
parsing. No I/O: imports nothing from db, sources, web, notify, publish, documents, pipeline, cli."""
