"""Benchmarks. `python -m bench` runs them all; `python -m bench NAME ...` runs some.

Each bench/bench_<name>.py measures the real path and a baseline in the same run and prints
both with their ratio, so figures stay comparable across machines.
"""
