"""Metrics, splits and baselines (no Qt)."""
