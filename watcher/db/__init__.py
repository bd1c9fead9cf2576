"""Storage: typed models, engines and sessions."""
