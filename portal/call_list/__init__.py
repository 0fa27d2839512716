"""The call list (C12): per premises, the contacts called when the alarm goes off, and the verbal passcode."""
