"""The pieces of ``scripts/make_examples.py``: generators and story checks of the examples."""
