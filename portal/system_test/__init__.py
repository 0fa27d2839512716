"""Put my system on test (issue 14, item 5): a premises on test for N hours opens no incident; ended early at will."""
