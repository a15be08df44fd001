"""Fixtures for the flow-definition tests: dialplan directories built in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.flowdefs.support import BASE_CONF, BASE_FLOWS, build_dir

MakeDir = Callable[..., Path]


@pytest.fixture
def make_dir(tmp_path: Path) -> MakeDir:
    """``make_dir(conf=..., flows={"acme": ...})``: a dialplan dir with those files
    (dedented); by default the valid BASE_CONF and BASE_FLOWS."""

    def make(conf: str | None = BASE_CONF, flows: dict[str, str] | None = None) -> Path:
        return build_dir(
            tmp_path / "dialplan", conf, {"acme": BASE_FLOWS} if flows is None else flows
        )

    return make
