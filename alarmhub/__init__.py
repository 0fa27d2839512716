"""The composition root: the `alarmhub` command line that wires the receiver, the portal and shared parts."""
