"""Benchmarks, run on demand only (`make bench`, `python -m tests.bench`): never in the suite.

See docs/PERFORMANCE.md for the workloads, the commands and the figures.
"""
