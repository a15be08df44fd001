"""Reports over stored cases: per-queue figures by day or hour (pure, no I/O)."""
