"""The bulletins feature (wiring in feature.py)."""
