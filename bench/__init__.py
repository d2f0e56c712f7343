"""Benchmarks of the users service: ``make bench`` runs ``bench.benchmark``."""
