"""Incidents: what the central station does about alarms, failures to communicate and unknown accounts."""
