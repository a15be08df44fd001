"""The contacts feature (wiring in feature.py)."""
