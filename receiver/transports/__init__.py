"""Transports that carry DC-09 frames into the ingest pipeline: TCP, UDP and MQTT."""
