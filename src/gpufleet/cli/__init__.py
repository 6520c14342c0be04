"""The `gpufleet` command line."""
