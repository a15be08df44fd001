"""Shared pieces for the notice and voicemail flow tests: a small tenant, a clock, a sink,
a prompt renderer that never runs espeak, and a MenuFlow wired with both flows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.ari.dispatcher import Dispatcher
from ivr.audio import pcm_to_wav
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.flowdefs.model import (
    Menu,
    Prompt,
    RecordingConfig,
    Target,
    TenantFlows,
    VoicemailConfig,
)
from ivr.flows.announcement import AnnouncementFlow
from ivr.flows.menu import MenuFlow
from ivr.flows.notice import NoticeFlow
from ivr.flows.queue import QueueFlow
from ivr.flows.router import FlowRouter
from ivr.flows.voicemail import VoicemailFlow
from ivr.prompts import PromptRenderer
from ivr.telephony.numbers import InvalidNumber, parse_number
from recording.finalise import Finaliser
from recording.store import AudioStore
from storage.events import CaseEvent
from tests.unit.fake_ari import FakeAri

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

    def emit(self, event: CaseEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


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


class Definitions:
    def __init__(self, flows: TenantFlows) -> None:
        self.flows = flows

    def get(self, tenant: str) -> TenantFlows | None:
        return self.flows if tenant == self.flows.tenant else None


class Tenants:
    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        return TENANT if slug == "acme" else None


class NoAgents:
    async def user_id(self, login: str) -> uuid.UUID | None:
        return None


class NoBulletins:
    def state(self, number: str) -> None:
        return None


class NoCounting:
    def count(self, number_id: uuid.UUID, bulletin_ids: object) -> None:
        pass


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
            raise ConnectionRefusedError("postgres is down")
        try:
            return number is not None and parse_number(number).e164 in self.numbers
        except InvalidNumber:
            return False


def world(
    tmp_path: Path,
    flows: TenantFlows,
    *,
    restrictions: RestrictedNumbers | None = None,
    **fake_kw: Any,
) -> World:
    fake = FakeAri(default_duration=0.001, **fake_kw)
    sink = Sink()
    clock = Clock()
    prompts = PromptRenderer(tmp_path / "sounds", SOUNDS, speak=fake_speak)
    spool = tmp_path / "spool"
    spool.mkdir()
    store = AudioStore(tmp_path / "store")
    finaliser = Finaliser(store, spool)
    notice = NoticeFlow(prompts, clock)
    voicemail = VoicemailFlow(
        prompts, finaliser, sink, clock, end_grace=0.5, restrictions=restrictions
    )
    router = FlowRouter({})
    dispatcher = Dispatcher(fake, router.handle, app="linja")
    coordinator = QueueCoordinator(QueueEngine({}), clock)
    queue = QueueFlow(
        coordinator, prompts, sink, NoAgents(), dispatcher.adopt, dispatcher.release, clock
    )
    bulletins = AnnouncementFlow(NoBulletins(), NoCounting(), clock)
    router.add(
        MenuFlow(
            Definitions(flows),
            Tenants(),
            prompts,
            queue,
            bulletins,
            sink,
            clock,
            notice=notice,
            voicemail=voicemail,
        )
    )
    fake.attach(dispatcher)
    return World(fake, sink, clock, prompts, notice, voicemail, store, spool, dispatcher)
