"""The dispatcher's incident page and its handling (issue 14, D2): see routes.py and views.py."""
