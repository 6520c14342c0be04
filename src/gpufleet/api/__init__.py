"""The HTTP API. `schemas/` is pure Pydantic, shared with the CLI's HTTP client."""
