"""Benchmarks behind `make bench`: each module's run() prints a table and returns its rows."""
