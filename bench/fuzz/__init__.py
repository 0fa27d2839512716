"""`make fuzz`: the running receiver fuzzed over TCP, UDP and MQTT — a module per part, the command in __main__."""

# Names that bench.soak and its test take from here.
from bench.fuzz.checks import Check
from bench.fuzz.mosquitto import MOSQUITTO_SETTINGS, own_mosquitto
from bench.fuzz.plan import Broker, FuzzPlan
from bench.fuzz.probes import log_findings
from bench.fuzz.receiver_process import receiver_environment

__all__ = [
    "MOSQUITTO_SETTINGS",
    "Broker",
    "Check",
    "FuzzPlan",
    "log_findings",
    "own_mosquitto",
    "receiver_environment",
]
