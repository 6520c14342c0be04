"""Repositories: SQL for one aggregate each, on a connection inside a unit of work."""
