"""The callcenter feature (wiring in feature.py)."""
