"""Benchmarks of studyroom beside its peers; run them with ``scripts/bench`` (see README.md)."""
