"""The ops console as a controller feature (wiring in feature.py)."""
