"""The customer's dashboard (C3) and the tab registry later features fill."""
