"""Retention: the periodic sweeper that deletes audio and blanks case personal data (and the
numbers of call-out attempts) past each tenant's retention (crash-safe, one sweep at a
time), and removes the converted listening copies and API export bundles past their TTL."""

from __future__ import annotations

from ivr.core import Core, Feature
from recording.journal import RowJournal
from retention.copies import Copies
from retention.periodic import run_periodic
from retention.sweeper import SweepConfig, Sweeper
from storage.repositories.callouts import CalloutRepository
from storage.repositories.cases import CaseRepository
from storage.repositories.sweep import SweepLock, SweepRepository
from storage.repositories.transcripts import TranscriptRepository


async def wire(core: Core) -> Feature:
    s = core.settings
    sweeper = Sweeper(
        SweepRepository(core.sessions),
        SweepLock(core.engine),
        CaseRepository(core.sessions),
        core.audio,
        core.clock,
        SweepConfig(batch=s.sweep_batch),
        copies=Copies.in_state(s.state_dir, s.export_ttl),
        journal=RowJournal.in_state(s.state_dir),
        callouts=CalloutRepository(core.sessions),
        transcripts=TranscriptRepository(core.sessions),
    )
    return Feature(
        "sweep", tasks=(("retention-sweep", lambda: run_periodic(sweeper, s.sweep_interval)),)
    )
