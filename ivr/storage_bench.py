"""``make bench-storage``: :mod:`storage.bench` run with the service's settings."""

from __future__ import annotations

from ivr.config import Settings
from storage import bench

if __name__ == "__main__":
    bench.main(Settings)
