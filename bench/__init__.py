"""Benchmarks: run with `make bench`; results are recorded in bench/RESULTS.md."""
