"""Benchmarks that print figures for the README; they assert nothing."""
