"""Request and response models of the API; the CLI parses responses with the same models."""
