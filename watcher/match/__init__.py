"""The relevance matcher: rules and gazetteer (`rules/*.yaml`), their loading and the text
folding they use. Pure over a notice; imports only the core, `records` and `errors`."""
