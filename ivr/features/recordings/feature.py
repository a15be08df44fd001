"""Call recording with a notice, voice messages, audited listening and live-recording control.

Offers the voicemail flow, the notice flow and the two bridgers (cases opened by this
controller record through the case recorder; callbacks record onto earlier cases directly).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ivr.core import Core, Feature
from ivr.flows.notice import NoticeFlow
from ivr.flows.voicemail import VoicemailFlow
from ivr.http.listening import add_routes as add_listening_routes
from ivr.http.recordings_control import add_routes as add_control_routes
from ivr.telephony.bridging import Bridger
from ivr.telephony.recorder import BridgeRecorder
from recording.attached import AttachedRecordings
from recording.bridge import LiveRecordings
from recording.convert import Converter, prune_periodically
from recording.finalise import Finaliser
from recording.journal import RowJournal
from recording.listen import ListeningService
from recording.recovery import OrphanRecovery
from recording.store import AudioKind
from retention.copies import Copies
from storage.repositories.cases import CaseRepository
from storage.repositories.media import (
    AudioRows,
    ListeningLog,
    RecordingRepository,
    VoiceMessageRepository,
)


@dataclass(frozen=True)
class Bridgers:
    """``case``: conversations of cases this controller opened; ``attached``: callbacks,
    whose case was opened earlier, maybe by another controller."""

    case: Bridger
    attached: Bridger


async def wire(core: Core) -> Feature:
    s = core.settings
    finaliser = Finaliser(core.audio, s.in_root(s.recordings_inner))
    live = LiveRecordings(core.clock)
    rows = AudioRows(core.sessions)
    attached = AttachedRecordings(rows, journal=RowJournal.in_state(s.state_dir))
    bridgers = Bridgers(
        case=Bridger(BridgeRecorder(finaliser, core.cases, core.clock, live)),
        attached=Bridger(BridgeRecorder(finaliser, attached, core.clock, live)),
    )
    cases = CaseRepository(core.sessions)

    async def tenant_of(case_id: uuid.UUID) -> uuid.UUID:
        return (await cases.get(case_id)).tenant_id

    recovery = OrphanRecovery(
        finaliser,
        attached,
        tenant_of,
        core.clock,
        live=lambda: [r.name for r in live.all()],
        min_age=s.recording_orphan_age,
        kept=lambda kind, audio_id: rows.exists(kind is AudioKind.RECORDING, audio_id),
    )
    notice = NoticeFlow(core.prompts, core.clock)
    voicemail = VoicemailFlow(
        core.prompts,
        finaliser,
        core.cases,
        core.clock,
        restrictions=core.restrictions,
        end_grace=s.recording_end_grace,
    )
    copies = Copies.in_state(s.state_dir, s.export_ttl)
    converter = Converter(copies.converted, ttl_seconds=copies.converted_ttl)
    listening = ListeningService(
        recordings=RecordingRepository(core.sessions),
        voice_messages=VoiceMessageRepository(core.sessions),
        cases=cases,
        events=ListeningLog(core.sessions),
        store=core.audio,
        converter=converter,
        workdir=copies.workdir,
        audit=core.audit,
    )
    core.services.offer(bridgers, notice, voicemail, live, listening)
    interval = min(60.0, max(1.0, s.recording_orphan_age / 2))
    return Feature(
        "recordings",
        routes=(
            lambda app: add_listening_routes(app, listening, core.guard, core.directory),
            lambda app: add_control_routes(app, live, core.guard),
        ),
        tasks=(
            ("recording-recovery", lambda: recovery.run(interval=interval)),
            ("listen-cache-prune", lambda: prune_periodically(converter)),
            ("audio-row-journal", attached.replay_periodically),
        ),
        closers=(attached.close,),
    )
