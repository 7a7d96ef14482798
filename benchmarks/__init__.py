"""Benchmarks of orginvite against what users would use instead (``python -m benchmarks``; see README)."""
