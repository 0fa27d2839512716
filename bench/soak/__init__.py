"""`make soak`: faults, scripted and repeatable — a module per scenario, the run in __main__."""
