"""The callbacks feature (wiring in feature.py)."""
