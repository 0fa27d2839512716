"""The receiver: takes alarm-panel transmissions (DC-09 over TCP/UDP, MQTT) and stores them."""
