"""Call recording and voice messages as a controller feature (wiring in feature.py)."""
