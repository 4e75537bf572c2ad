"""Observability: the system's health, metrics and the figures the console shows."""
