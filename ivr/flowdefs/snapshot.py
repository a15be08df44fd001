"""The last validated flow definitions as JSON (``<state_dir>/flows.json``).

``linja dialplan reload`` writes it after Asterisk took the new dialplan, so it always holds
definitions that passed validation, matching what Asterisk routes. A controller that finds
the editable files broken at start-up can serve this instead.

Both directions are derived from the dataclasses in ``ivr.flowdefs.model`` (a pydantic
``TypeAdapter`` over them): every field is written and read back, with its own name; a
target is ``{"kind": ..., "name": ...}``, a time ``"HH:MM:SS"``. Reading validates the types,
so a snapshot that does not fit the model is refused (``ValueError``), not half-loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from ivr.flowdefs.model import TenantFlows

VERSION = 2  # 1: hand-written field lists; 2: the model's fields, as the model names them

_TENANTS: TypeAdapter[dict[str, TenantFlows]] = TypeAdapter(dict[str, TenantFlows])


def flows_to_json(flows: dict[str, TenantFlows]) -> dict[str, Any]:
    tenants: dict[str, Any] = _TENANTS.dump_python(flows, mode="json")
    return {"version": VERSION, "tenants": tenants}


def flows_from_json(data: dict[str, Any]) -> dict[str, TenantFlows]:
    """The definitions of a ``flows_to_json`` document; ``ValueError`` (pydantic's
    ``ValidationError`` is one) when it is another version or does not fit the model."""
    if data.get("version") != VERSION:
        raise ValueError(f"flow snapshot version {data.get('version')!r}, expected {VERSION}")
    return _TENANTS.validate_python(data.get("tenants"))


def write_snapshot(path: Path, flows: dict[str, TenantFlows]) -> None:
    """Atomically replace ``path`` with the definitions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(flows_to_json(flows), ensure_ascii=False, indent=1) + "\n"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_snapshot(path: Path) -> dict[str, TenantFlows]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a flow snapshot")
    return flows_from_json(data)
