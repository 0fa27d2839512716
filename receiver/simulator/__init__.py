"""Virtual alarm panels: realistic DC-09 traffic for `alarmhub simulate`, the benchmarks and the fault tests."""
