"""Data-subject rights as a controller feature: the admin API (feature.py) and
`linja subject` (cli.py)."""
