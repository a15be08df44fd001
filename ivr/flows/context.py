"""What a call-center flow knows about the call it serves: tenant definitions and its case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ivr.flowdefs.model import TenantFlows


@dataclass
class CaseContext:
    tenant_id: uuid.UUID
    flows: TenantFlows
    case_id: uuid.UUID = field(default_factory=uuid.uuid4)
    outcome: str | None = None  # set by whoever ends the case; default abandoned
    notice_played_at: datetime | None = None  # the recording notice finished playing
    record_call: bool = False  # the service number records every call (notice played)
    resumed_stay: str | None = None  # an adopted case's open queue stay: goes on, not anew

    @property
    def base_dir(self) -> Path:
        return Path(self.flows.source).parent
