"""The caller's side of the call center as a controller feature (wiring in feature.py)."""
