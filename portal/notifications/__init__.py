"""Issue 14 (being built): see the feature's routes.py."""
