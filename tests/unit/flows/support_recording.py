"""Shared pieces for the notice and voicemail flow tests: a small tenant, a clock, a sink,
a prompt renderer that never runs espeak, and a MenuFlow wired with both flows."""

from __future__ import annotations

import dataclasses
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.ari.dispatcher import Dispatcher
from ivr.audio import pcm_to_wav
from ivr.flowdefs.model import (
    Menu,
    Prompt,
    RecordingConfig,
    Target,
    TenantFlows,
    VoicemailConfig,
)
from ivr.flows.notice import NoticeFlow
from ivr.flows.voicemail import VoicemailFlow
from ivr.prompts import PromptRenderer
from ivr.telephony.numbers import InvalidNumber, parse_number
from recording.store import AudioStore
from storage.errors import StorageUnavailable
from storage.events import CaseEvent
from storage.recorder import RecorderStats
from tests.unit.fake_ari import FakeAri
from tests.unit.wiring import Definitions, Directory, unit_core, unit_settings, wire_all

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TENANT = uuid.UUID(int=1)
SOUNDS = "/var/lib/linja/sounds"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Sink:
    def __init__(self) -> None:
        self.events: list[CaseEvent] = []
        self.keeps = True  # what durable() answers
        self.durable_asked: list[tuple[uuid.UUID, int]] = []  # case, events emitted by then

    def emit(self, event: CaseEvent) -> None:
        self.events.append(event)

    async def durable(self, case_id: uuid.UUID) -> bool:
        self.durable_asked.append((case_id, len(self.events)))
        return self.keeps

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def stats(self) -> RecorderStats:
        """What /metrics reads of the recorder: nothing pending, nothing spooled."""
        fields = {f.name: 0 for f in dataclasses.fields(RecorderStats)}
        return RecorderStats(**{**fields, "database_up": True})


async def fake_speak(text: str, language: str) -> bytes:
    return pcm_to_wav(b"\0\0" * 80)


def wav(seconds: float) -> bytes:
    return pcm_to_wav(b"\x20\x00" * int(8000 * seconds))


def tenant_flows(tmp_path: Path, **changes: Any) -> TenantFlows:
    flows = TenantFlows(
        tenant="acme",
        language="fi",
        entry="main",
        prompts={
            "welcome": Prompt("welcome", sound="welcome"),
            "goodbye": Prompt("goodbye", sound="goodbye"),
            "own_notice": Prompt("own_notice", sound="own-notice"),
        },
        menus={"main": Menu("main", "welcome", {"4": Target("voicemail", "support")}, retries=1)},
        queues={},
        hours=None,
        source=str(tmp_path / "flows" / "acme.toml"),
        recording=RecordingConfig(numbers=("201",)),
        voicemail=VoicemailConfig(max_length=60, max_silence=5),
    )
    return replace(flows, **changes)


@dataclass
class World:
    fake: FakeAri
    sink: Sink
    clock: Clock
    prompts: PromptRenderer
    notice: NoticeFlow
    voicemail: VoicemailFlow
    store: AudioStore
    spool: Path
    dispatcher: Dispatcher

    def notice_media(self, text: str, language: str = "fi") -> str:
        from ivr.audio import tts_key

        return f"sound:{SOUNDS}/{tts_key(text, language)}"


class RestrictedNumbers:
    """Restrictions by E.164 number, matched in any form the caller id comes in, as the
    repository does; ``broken`` makes every check fail as with Postgres down."""

    def __init__(self, *numbers: str, broken: bool = False) -> None:
        self.numbers = set(numbers)
        self.broken = broken
        self.asked: list[str | None] = []

    async def is_restricted(
        self, tenant_id: uuid.UUID, *, number: str | None = None, email: str | None = None
    ) -> bool:
        self.asked.append(number)
        if self.broken:
            raise StorageUnavailable("postgres is down")
        try:
            return number is not None and parse_number(number).e164 in self.numbers
        except InvalidNumber:
            return False


async def world(
    tmp_path: Path,
    flows: TenantFlows,
    *,
    restrictions: RestrictedNumbers | None = None,
    **fake_kw: Any,
) -> World:
    """Every feature wired as ``linja serve`` does, on a core of fakes for ``flows``."""
    fake = FakeAri(default_duration=0.001, **fake_kw)
    sink = Sink()
    clock = Clock()
    prompts = PromptRenderer(tmp_path / "sounds", SOUNDS, speak=fake_speak)
    settings = unit_settings(tmp_path)
    core = unit_core(
        settings,
        ari=fake,
        clock=clock,
        cases=sink,
        prompts=prompts,
        definitions=Definitions(flows),
        directory=Directory(flows.tenant, TENANT),
        restrictions=restrictions or RestrictedNumbers(),
    )
    await wire_all(core, AsyncExitStack())
    fake.attach(core.dispatcher)
    return World(
        fake,
        sink,
        clock,
        prompts,
        core.services.need(NoticeFlow),
        core.services.need(VoicemailFlow),
        core.audio,
        settings.in_root(settings.recordings_inner),
        core.dispatcher,
    )
