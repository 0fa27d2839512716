"""Insurance certificates of monitoring (C10): requested, generated as PDF, downloaded, and verified in public."""
