"""Benchmarks of the course's training path (see benchmarks/README.md)."""
