"""Retention and data-subject rights as a controller feature (wiring in feature.py)."""
