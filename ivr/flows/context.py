"""What a call-center flow knows about the call it serves: tenant definitions and its case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ivr.flowdefs.model import TenantFlows


@dataclass
class CaseContext:
    tenant_id: uuid.UUID
    flows: TenantFlows
    case_id: uuid.UUID = field(default_factory=uuid.uuid4)
    outcome: str | None = None  # set by whoever ends the case; default abandoned

    @property
    def base_dir(self) -> Path:
        return Path(self.flows.source).parent
