"""Retention as a controller feature: the periodic sweeper (feature.py) and `linja sweep` /
`linja legal-hold` (cli.py)."""
