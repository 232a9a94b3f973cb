"""Training loop, strategies, devices and checkpoints (no Qt)."""
