"""Controller heartbeats and the cases of lost nodes, as a controller feature (feature.py)."""
