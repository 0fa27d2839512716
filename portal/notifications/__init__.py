"""Alarm notifications (issue 14, item 5): the owner chooses which users are e-mailed about what."""
