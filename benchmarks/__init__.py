"""Benchmarks: ``python -m benchmarks.core`` (see core.py)."""
