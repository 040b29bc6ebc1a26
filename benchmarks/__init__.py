"""Benchmark harness for beit-deploy (run ``python benchmarks/latency.py --help``)."""
