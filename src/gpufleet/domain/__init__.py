"""Pure domain: nothing here imports the web, the database or a solver."""
