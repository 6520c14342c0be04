"""Adapters: the database, the cluster backend and reports behind the ports services use."""
