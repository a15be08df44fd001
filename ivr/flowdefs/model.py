"""The validated, immutable form of a tenant's flow definitions.

Produced by the loader from `dialplan/flows/<tenant>.toml`; consumed by call flows and the
queue engine. Pure data: no I/O here.

These dataclasses are the one description of the schema: the parser's allowed keys
(``file_keys``) and defaults (``file_default``) and the JSON snapshot (``snapshot``) are
derived from them. A field is the
key of its own name in its table of the flow file unless its metadata says otherwise
(``file_key("failure")``: another name; ``NOT_A_KEY``: the file gives it some other way).

Targets are strings ``kind:name`` — where a menu option, a timeout or an overflow sends the
caller:

    menu:<menu>          another menu of the same tenant
    queue:<queue>        a queue of the same tenant
    callback:<queue>     callback capture, the request joins that queue
    voicemail:<box>      leave a voice message (box = any name, usually a queue)
    bulletin:<number>    the disruption bulletin of a service number
    external:<number>    transfer to an external number (digits, optional leading +)
    hangup:<prompt>      play the prompt, then hang up
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import time
from types import MappingProxyType
from typing import Literal, get_args

TargetKind = Literal["menu", "queue", "callback", "voicemail", "bulletin", "external", "hangup"]
TARGET_KINDS: tuple[TargetKind, ...] = get_args(TargetKind)
Strategy = Literal["longest-idle", "ring-all"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
# libphonenumber's number types a callback may dial (premium-rate: never, not even listed).
NumberType = Literal[
    "fixed_line",
    "mobile",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
]
NUMBER_TYPES: tuple[NumberType, ...] = get_args(NumberType)

FILE_KEY = "flow_file_key"  # field metadata: the field's key in the flow file, None for none
NOT_A_KEY: Mapping[str, str | None] = MappingProxyType({FILE_KEY: None})


def file_key(key: str) -> Mapping[str, str | None]:
    """Field metadata: the flow file names this field ``key``."""
    return MappingProxyType({FILE_KEY: key})


def file_keys(cls: type) -> tuple[str, ...]:
    """The keys a flow-file table of ``cls`` (a dataclass above) may hold, in field order."""
    keys = (f.metadata.get(FILE_KEY, f.name) for f in fields(cls))
    return tuple(k for k in keys if k is not None)


def file_default(cls: type, key: str) -> object:
    """The default of the field of ``cls`` that the flow file names ``key``."""
    for f in fields(cls):
        if f.metadata.get(FILE_KEY, f.name) != key:
            continue
        if f.default is not MISSING:
            return f.default
        if f.default_factory is not MISSING:
            return f.default_factory()
    raise KeyError(f"{cls.__name__} has no default for the key '{key}'")


# The entry argument Stasis(linja,menu,<tenant>,callback:<queue>) takes a caller straight to
# a callback request for <queue> (the dialplan's "lines are busy, press 1" path).
CALLBACK_ENTRY = "callback:"


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Prompt:
    """Exactly one of text (spoken by TTS in the tenant's language), sound (an Asterisk
    sound name such as ``beep``) or file (a path relative to the flow file)."""

    name: str = field(metadata=NOT_A_KEY)  # the table's own name: [prompts.<name>]
    text: str | None = None
    sound: str | None = None
    file: str | None = None
    language: str | None = None  # defaults to the tenant's


@dataclass(frozen=True)
class Menu:
    name: str = field(metadata=NOT_A_KEY)  # [menus.<name>]
    prompt: str
    options: dict[str, Target]  # digit ("0"-"9", "*", "#") or multi-digit code -> target
    max_digits: int = 1
    first_digit_timeout: float = 5.0
    inter_digit_timeout: float = 2.0
    retries: int = 3  # attempts in total before failure_target
    invalid_prompt: str | None = None
    no_input_prompt: str | None = None
    failure_target: Target = field(
        default_factory=lambda: Target("hangup", "goodbye"), metadata=file_key("failure")
    )


@dataclass(frozen=True)
class CallbackHours:
    """Weekly hours in a time zone when callback customers may be dialled."""

    timezone: str
    # weekday 0=Mon..6=Sun -> intervals; in the file, keys of their own (mon, tue-fri, ...)
    week: dict[int, tuple[tuple[time, time], ...]] = field(metadata=NOT_A_KEY)


@dataclass(frozen=True)
class CallbackConfig:
    """A queue's callbacks (``[queues.<name>.callback]``): the in-queue option and the
    dialer's retry policy."""

    offer_in_queue: bool = False  # waiting callers may press `key` to be called back
    key: str = "1"
    max_attempts: int = 3  # customer attempts (no answer / busy / failed), then give up
    retry_delay: float = 300.0  # seconds between attempts
    ring_timeout: float = 30.0  # seconds the customer's phone rings
    message: bool = False  # after the request, offer "press 1 to leave a voice message"
    hours: CallbackHours | None = None  # when to dial; None: the tenant's [hours]


@dataclass(frozen=True)
class Queue:
    name: str = field(metadata=NOT_A_KEY)  # [queues.<name>]
    agents: tuple[str, ...]  # agent logins (PJSIP endpoint names)
    strategy: Strategy = "longest-idle"
    ring_timeout: float = 15.0  # per agent, then the next one
    wrap_up: float = 5.0  # seconds an agent rests after a call
    max_wait: float = 600.0  # seconds a caller waits at most, then goes to the timeout target
    max_length: int = 20  # callers waiting; one more goes to overflow at once
    overflow: Target | None = None  # refused on entry; None: hangup with the goodbye prompt
    timeout: Target | None = None  # after max_wait (e.g. callback:<queue>); None: overflow
    announce_interval: float = 30.0  # position / estimated wait announcements
    moh_class: str = "default"
    position_prompt: str | None = None  # optional prompt before the position number
    callback: CallbackConfig = field(default_factory=CallbackConfig)
    record: bool = False  # record the conversation with the agent (after the notice)
    # the wallboard's service level: % of callers answered within this many seconds
    service_level_threshold: float = 20.0

    @property
    def timeout_target(self) -> Target | None:
        """Where a caller goes after max_wait (None: hangup with the goodbye prompt)."""
        return self.timeout if self.timeout is not None else self.overflow


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening hours in a time zone; closed_target when outside them."""

    timezone: str
    # weekday 0=Mon..6=Sun -> list of (open, close) intervals; in the file, keys of their own
    week: dict[int, tuple[tuple[time, time], ...]] = field(metadata=NOT_A_KEY)
    closed_target: Target = field(metadata=file_key("closed"))


@dataclass(frozen=True)
class RecordingConfig:
    """When calls are recorded, and the notice callers hear first.

    ``numbers``: service numbers whose calls are all recorded (notice at the start of the
    call); queues say so themselves (``Queue.record``; notice on entering the queue)."""

    notice: str | None = None  # a prompt name; None: the built-in text in the tenant's language
    replay_on_transfer: bool = False  # play the notice to the agent too before bridging
    numbers: tuple[str, ...] = ()
    # The language recordings are transcribed in (issue 18): fi, sv, en, or "auto" to detect
    # it; None: the tenant's language.
    transcript_language: str | None = None


@dataclass(frozen=True)
class VoicemailConfig:
    """How voice messages are taken (``voicemail:<box>`` targets)."""

    max_length: float = 120.0  # seconds, then the message ends
    max_silence: float = 5.0  # seconds of silence end the message (0: never)
    prompt: str | None = None  # a prompt name; None: the built-in text
    thanks: str | None = None  # played after the message; None: the built-in text


@dataclass(frozen=True)
class CallbackNumbers:
    """Which numbers the tenant's callbacks may dial (``[callbacks]``): a number must be of
    an allowed country (ISO 3166 region, as libphonenumber assigns it) and type. The default
    is Finnish mobile and fixed-line numbers: no service (UAN, 010/020/0100...), shared-cost,
    toll-free or foreign numbers. Premium-rate numbers are never dialled."""

    allowed_countries: tuple[str, ...] = ("FI",)
    allowed_types: tuple[NumberType, ...] = ("mobile", "fixed_line")


@dataclass(frozen=True)
class TenantFlows:
    tenant: str
    language: str
    entry: str  # the menu a call starts in unless the dialplan names another
    prompts: dict[str, Prompt]
    menus: dict[str, Menu]
    queues: dict[str, Queue]
    hours: OpeningHours | None
    source: str = field(metadata=NOT_A_KEY)  # file the definitions came from
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    voicemail: VoicemailConfig = field(default_factory=VoicemailConfig)
    callbacks: CallbackNumbers = field(default_factory=CallbackNumbers)
