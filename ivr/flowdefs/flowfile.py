"""One tenant's flow file (``dialplan/flows/<tenant>.toml``) -> ``TenantFlows``, or errors.

Every finding is collected with the line it is about. The file layout is documented in
``dialplan/flows/demo.toml``. Reachability of menus needs the dialplan's entry points and
is checked by the loader (``unreachable_menus``).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from ivr.flowdefs.errors import DefinitionError
from ivr.flowdefs.hours import DAYS, HoursError, parse_days, parse_intervals
from ivr.flowdefs.model import (
    NUMBER_TYPES,
    STRATEGIES,
    TARGET_KINDS,
    CallbackConfig,
    CallbackHours,
    CallbackNumbers,
    Menu,
    NumberType,
    OpeningHours,
    Prompt,
    Queue,
    RecordingConfig,
    Strategy,
    Target,
    TargetKind,
    TenantFlows,
    VoicemailConfig,
    file_default,
    file_keys,
)
from ivr.flowdefs.tomlindex import Duplicate, KeyIndex, KeyPath, index_keys

LANGUAGES = ("fi", "sv", "en")
DEFAULT_GOODBYE = "goodbye"  # the prompt the model's defaults hang up with

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MAX_SERVICE_LEVEL_THRESHOLD = 3600  # seconds; as GET /api/reports/queues?threshold=
_CODE = re.compile(r"^[0-9*#]+$")
_NUMBER = re.compile(r"^[0-9]+$")
_EXTERNAL = re.compile(r"^\+?[0-9]+$")
_SOUND = re.compile(r"^[A-Za-z0-9_/.-]+$")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


T = TypeVar("T")


@dataclass
class ParsedFile:
    """What one flow file gave. ``draft`` is built whenever the TOML parsed, errors or not
    (the loader checks routes and reachability against it, to report everything at once);
    ``flows`` only when the file validated."""

    tenant: str  # from the file name
    rel: str  # the file, relative to the dialplan directory
    draft: TenantFlows | None = None
    flows: TenantFlows | None = None
    errors: list[DefinitionError] = field(default_factory=list)
    menu_lines: dict[str, int] = field(default_factory=dict)


def toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, datetime | time):
        return "date/time"
    return type(value).__name__


class _File:
    """Error collection for one file, with key paths turned into lines."""

    def __init__(self, rel: str, index: KeyIndex) -> None:
        self.rel = rel
        self.index = index
        self.errors: list[DefinitionError] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.errors.append(DefinitionError(self.rel, self.index.line_of(path), message))

    def error_at(self, line: int, message: str) -> None:
        self.errors.append(DefinitionError(self.rel, line, message))


class _Table:
    """Typed reads from one TOML table, reporting problems as ``<where>: <problem>``. The
    table gives a ``model`` dataclass: its fields are the keys allowed (``file_keys``) and
    their defaults are what a key left out (or given wrong) reads as."""

    def __init__(
        self, f: _File, path: KeyPath, where: str, data: dict[str, Any], model: type | None
    ) -> None:
        self.f = f
        self.path = path
        self.where = where
        self.data = data
        self.model = model
        self.allowed = () if model is None else file_keys(model)

    def default(self, key: str, kind: type[T]) -> T:
        """The model's default for ``key``."""
        value = None if self.model is None else file_default(self.model, key)
        if not isinstance(value, kind):
            raise TypeError(f"{self.model}: the default of '{key}' is not {kind.__name__}")
        return value

    def err(self, key: str | None, message: str) -> None:
        path = self.path if key is None else (*self.path, key)
        prefix = f"{self.where}: " if self.where else ""
        self.f.error(path, prefix + message)

    def unknown_keys(self, also_allowed: Callable[[str], bool] = lambda k: False) -> None:
        for key in self.data:
            if key in self.allowed or also_allowed(key):
                continue
            hint = difflib.get_close_matches(key, self.allowed, n=1)
            suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
            self.err(key, f"unknown key '{key}'{suffix}")

    def _typed(self, key: str, kind: type[T], what: str, required: bool) -> T | None:
        if key not in self.data:
            if required:
                self.err(None, f"missing key '{key}'")
            return None
        value = self.data[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if not ok:
            self.err(key, f"'{key}' must be {what}, not {toml_type(value)}")
            return None
        return cast(T, value)

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self._typed(key, str, "a string", required)
        if value is not None and not value.strip():
            self.err(key, f"'{key}' is empty")
            return None
        return value

    def name(self, key: str, what: str, known: Iterable[str], *, required: bool = False) -> str:
        """A reference to another definition (a prompt or menu) by name; "" when missing."""
        value = self.string(key, required=required)
        if value is None:
            return ""
        if value not in known:
            self.err(key, f"{key}: unknown {what} '{value}'")
        return value

    def integer(self, key: str, *, minimum: int, maximum: int | None = None) -> int:
        default = self.default(key, int)
        value = self._typed(key, int, "an integer", False)
        if value is None:
            return default
        if value < minimum:
            self.err(key, f"'{key}' must be at least {minimum}, not {value}")
            return default
        if maximum is not None and value > maximum:
            self.err(key, f"'{key}' must be at most {maximum}, not {value}")
            return default
        return value

    def boolean(self, key: str) -> bool:
        default = self.default(key, bool)
        value = self._typed(key, bool, "true or false", False)
        return default if value is None else value

    def seconds(self, key: str, *, zero_ok: bool = False) -> float:
        default = self.default(key, float)
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(key, f"'{key}' must be a number of seconds, not {toml_type(value)}")
            return default
        if value < 0 or (value == 0 and not zero_ok):
            bound = "at least 0" if zero_ok else "greater than 0"
            self.err(key, f"'{key}' must be {bound}, not {value}")
            return default
        return float(value)


class _Parser:
    def __init__(self, path: Path, rel: str, data: dict[str, Any], index: KeyIndex) -> None:
        self.path = path
        self.rel = rel
        self.data = data
        self.f = _File(rel, index)
        self.tenant = path.stem
        self.prompt_names: set[str] = set()
        self.menu_names: set[str] = set()
        self.queue_names: set[str] = set()
        self.uses_default_goodbye: list[tuple[KeyPath, str]] = []
        self.bad_sections: set[str] = set()

    # ----- helpers --------------------------------------------------------------------------
    def section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            if key not in self.bad_sections:
                self.bad_sections.add(key)
                self.f.error((key,), f"'{key}' must be a table, not {toml_type(value)}")
            return {}
        return value

    def names(self, key: str, what: str) -> set[str]:
        names = set()
        for name in self.section(key):
            if _NAME.match(name):
                names.add(name)
            else:
                self.f.error(
                    (key, name), f"{what} name '{name}' may only use letters, digits, _ and -"
                )
        return names

    def target(self, table: _Table, key: str, text: str, label: str) -> Target | None:
        """Parse and resolve ``kind:name``; ``label`` is how the message names the field."""
        kind, sep, name = text.partition(":")
        if not sep or not kind or not name:
            table.err(key, f"{label}: '{text}' is not a target kind:name")
            return None
        if kind not in TARGET_KINDS:
            table.err(
                key,
                f"{label}: unknown target kind '{kind}' in '{text}' "
                f"(known: {', '.join(TARGET_KINDS)})",
            )
            return None
        k: TargetKind = kind
        problem: str | None = None
        if k == "menu" and name not in self.menu_names:
            problem = f"unknown menu '{name}'"
        elif k in ("queue", "callback") and name not in self.queue_names:
            problem = f"unknown queue '{name}'"
        elif k == "hangup" and name not in self.prompt_names:
            problem = f"unknown prompt '{name}'"
        elif k == "voicemail" and not _NAME.match(name):
            problem = f"voicemail box '{name}' may only use letters, digits, _ and -"
        elif k == "bulletin" and not _NUMBER.match(name):
            problem = f"bulletin number '{name}' is not digits"
        elif k == "external" and not _EXTERNAL.match(name):
            problem = f"external number '{name}' is not digits (with an optional leading +)"
        if problem is not None:
            table.err(key, f"{label}: {problem}")
            return None
        return Target(k, name)

    def target_key(self, table: _Table, key: str) -> Target | None:
        text = table.string(key)
        return None if text is None else self.target(table, key, text, key)

    # ----- the file ---------------------------------------------------------------------------
    def parse(self) -> TenantFlows:
        top = _Table(self.f, (), "", self.data, TenantFlows)
        top.unknown_keys()
        tenant = top.string("tenant", required=True)
        if tenant is not None and tenant != self.tenant:
            top.err(
                "tenant",
                f"tenant '{tenant}' does not match the file name "
                f"(expected '{self.tenant}' in {self.path.name})",
            )
        if not _TENANT.match(self.tenant):
            self.f.error_at(
                1, f"tenant name '{self.tenant}' (the file name) may only use a-z, 0-9, _ and -"
            )
        language = top.string("language", required=True) or ""
        if language and language not in LANGUAGES:
            top.err("language", f"language '{language}' is not one of {', '.join(LANGUAGES)}")

        self.prompt_names = self.names("prompts", "prompt")
        self.menu_names = self.names("menus", "menu")
        self.queue_names = self.names("queues", "queue")

        entry = top.name("entry", "menu", self.menu_names, required=True)
        prompts = self.prompts(language)
        menus = self.menus()
        queues = self.queues()
        hours = self.hours() if "hours" in self.data else None
        recording = self.recording()
        voicemail = self.voicemail()
        callbacks = self.callbacks()
        if self.uses_default_goodbye and DEFAULT_GOODBYE not in self.prompt_names:
            for path, message in self.uses_default_goodbye:
                self.f.error(path, message)

        return TenantFlows(
            tenant=self.tenant,
            language=language,
            entry=entry,
            prompts=prompts,
            menus=menus,
            queues=queues,
            hours=hours,
            source=str(self.path.resolve()),
            recording=recording,
            voicemail=voicemail,
            callbacks=callbacks,
        )

    def recording(self) -> RecordingConfig:
        """``[recording]``: the notice prompt, its replay to agents, recorded numbers."""
        if "recording" not in self.data:
            return RecordingConfig()
        t = self.table(("recording",), "recording", self.data["recording"], RecordingConfig)
        if t is None:
            return RecordingConfig()
        t.unknown_keys()
        notice = t.name("notice", "prompt", self.prompt_names) or None
        numbers: list[str] = []
        raw = t.data.get("numbers", [])
        if not isinstance(raw, list):
            t.err("numbers", f"'numbers' must be an array of service numbers, not {toml_type(raw)}")
        else:
            for n, number in enumerate(raw):
                if not isinstance(number, str) or not _NUMBER.match(number):
                    self.f.error(
                        ("recording", "numbers", n),
                        f"recording: number {number!r} is not a service number (digits)",
                    )
                elif number in numbers:
                    self.f.error(
                        ("recording", "numbers", n),
                        f"recording: number '{number}' is listed twice",
                    )
                else:
                    numbers.append(number)
        transcript = t.string("transcript_language")
        if transcript is not None and transcript not in (*LANGUAGES, "auto"):
            t.err(
                "transcript_language",
                f"transcript_language '{transcript}' is not one of {', '.join(LANGUAGES)}, auto",
            )
            transcript = None
        return RecordingConfig(
            notice=notice,
            replay_on_transfer=t.boolean("replay_on_transfer"),
            numbers=tuple(numbers),
            transcript_language=transcript,
        )

    def voicemail(self) -> VoicemailConfig:
        """``[voicemail]``: how long a message may be, what silence ends it, its prompts."""
        if "voicemail" not in self.data:
            return VoicemailConfig()
        t = self.table(("voicemail",), "voicemail", self.data["voicemail"], VoicemailConfig)
        if t is None:
            return VoicemailConfig()
        t.unknown_keys()
        max_length = t.seconds("max_length")
        if max_length > 600:
            t.err("max_length", f"'max_length' must be at most 600 seconds, not {max_length:g}")
            max_length = t.default("max_length", float)
        return VoicemailConfig(
            max_length=max_length,
            max_silence=t.seconds("max_silence", zero_ok=True),
            prompt=t.name("prompt", "prompt", self.prompt_names) or None,
            thanks=t.name("thanks", "prompt", self.prompt_names) or None,
        )

    def callbacks(self) -> CallbackNumbers:
        """``[callbacks]``: the countries and number types callbacks may dial."""
        if "callbacks" not in self.data:
            return CallbackNumbers()
        t = self.table(("callbacks",), "callbacks", self.data["callbacks"], CallbackNumbers)
        if t is None:
            return CallbackNumbers()
        t.unknown_keys()
        regions = phonenumbers.SUPPORTED_REGIONS
        countries = self.word_list(
            t,
            "allowed_countries",
            "an ISO 3166 country code libphonenumber knows (FI, SE...)",
            regions.__contains__,
        )
        types = self.word_list(
            t,
            "allowed_types",
            f"a number type ({', '.join(NUMBER_TYPES)})",
            NUMBER_TYPES.__contains__,
        )
        return CallbackNumbers(
            allowed_countries=countries
            if countries is not None
            else t.default("allowed_countries", tuple),
            allowed_types=cast(tuple[NumberType, ...], types)
            if types is not None
            else t.default("allowed_types", tuple),
        )

    def word_list(
        self, t: _Table, key: str, what: str, known: Callable[[str], bool]
    ) -> tuple[str, ...] | None:
        """A non-empty array of distinct strings each ``known``; None when absent or wrong
        (then the model's default stands, and an error was recorded)."""
        if key not in t.data:
            return None
        raw = t.data[key]
        if not isinstance(raw, list):
            t.err(key, f"'{key}' must be an array of strings, not {toml_type(raw)}")
            return None
        if not raw:
            t.err(key, f"'{key}' is empty: no callback could be made")
            return None
        out: list[str] = []
        ok = True
        for n, item in enumerate(raw):
            path = (*t.path, key, n)
            if not isinstance(item, str) or not known(item):
                self.f.error(path, f"{t.where}: {key}: {item!r} is not {what}")
                ok = False
            elif item in out:
                self.f.error(path, f"{t.where}: {key}: '{item}' is listed twice")
                ok = False
            else:
                out.append(item)
        return tuple(out) if ok else None

    def prompts(self, language: str) -> dict[str, Prompt]:
        out: dict[str, Prompt] = {}
        for name, body in self.section("prompts").items():
            if name not in self.prompt_names:
                continue  # reported by names()
            t = self.table(("prompts", name), f"prompt '{name}'", body, Prompt)
            if t is None:
                continue
            t.unknown_keys()
            text = t.string("text")
            sound = t.string("sound")
            file = t.string("file")
            lang = t.string("language")
            given = [k for k in ("text", "sound", "file") if k in body]
            if len(given) != 1:
                t.err(None, f"give exactly one of text, sound, file (got {len(given)})")
            if sound is not None and not _SOUND.match(sound):
                t.err("sound", f"sound '{sound}' is not an Asterisk sound name")
            if file is not None and not (self.path.parent / file).is_file():
                t.err("file", f"file '{file}' not found (relative to {self.path.name})")
            if lang is not None and lang not in LANGUAGES:
                t.err("language", f"language '{lang}' is not one of {', '.join(LANGUAGES)}")
            out[name] = Prompt(name, text=text, sound=sound, file=file, language=lang)
        return out

    def table(self, path: KeyPath, where: str, body: object, model: type) -> _Table | None:
        if not isinstance(body, dict):
            self.f.error(path, f"{where} must be a table, not {toml_type(body)}")
            return None
        return _Table(self.f, path, where, body, model)

    def menus(self) -> dict[str, Menu]:
        out: dict[str, Menu] = {}
        for name, body in self.section("menus").items():
            if name not in self.menu_names:
                continue  # reported by names()
            t = self.table(("menus", name), f"menu '{name}'", body, Menu)
            if t is None:
                continue
            t.unknown_keys()
            prompt = t.name("prompt", "prompt", self.prompt_names, required=True)
            invalid = t.name("invalid_prompt", "prompt", self.prompt_names) or None
            no_input = t.name("no_input_prompt", "prompt", self.prompt_names) or None
            max_digits = t.integer("max_digits", minimum=1, maximum=20)
            first = t.seconds("first_digit_timeout")
            inter = t.seconds("inter_digit_timeout")
            retries = t.integer("retries", minimum=1)
            failure = self.target_key(t, "failure")
            if "failure" not in body:
                self.uses_default_goodbye.append(
                    (
                        t.path,
                        f"menu '{name}': no 'failure' given, and the default "
                        f"hangup:{DEFAULT_GOODBYE} needs a prompt '{DEFAULT_GOODBYE}'",
                    )
                )
            options = self.options(t, body, max_digits)
            out[name] = Menu(
                name=name,
                prompt=prompt,
                options=options,
                max_digits=max_digits,
                first_digit_timeout=first,
                inter_digit_timeout=inter,
                retries=retries,
                invalid_prompt=invalid,
                no_input_prompt=no_input,
                failure_target=failure or t.default("failure", Target),
            )
        return out

    def options(self, menu: _Table, body: dict[str, Any], max_digits: int) -> dict[str, Target]:
        if "options" not in body:
            menu.err(None, "missing key 'options'")
            return {}
        raw = body["options"]
        if not isinstance(raw, dict):
            menu.err("options", f"'options' must be a table, not {toml_type(raw)}")
            return {}
        if not raw:
            menu.err("options", "no options")
            return {}
        t = _Table(self.f, (*menu.path, "options"), menu.where, raw, None)
        out: dict[str, Target] = {}
        for code, value in raw.items():
            label = f"option '{code}'"
            if not _CODE.match(code):
                t.err(code, f"{label} is not a digit code (only 0-9, * and #)")
                continue
            if len(code) > max_digits:
                t.err(code, f"{label} has {_digits(len(code))} but max_digits is {max_digits}")
            if not isinstance(value, str):
                t.err(code, f"{label} must be a target string, not {toml_type(value)}")
                continue
            target = self.target(t, code, value, label)
            if target is not None:
                out[code] = target
        longest = max((len(c) for c in raw if _CODE.match(c)), default=max_digits)
        if longest < max_digits:
            menu.err(
                "max_digits",
                f"max_digits is {max_digits} but the longest option has {_digits(longest)}",
            )
        return out

    def queues(self) -> dict[str, Queue]:
        out: dict[str, Queue] = {}
        for name, body in self.section("queues").items():
            if name not in self.queue_names:
                continue  # reported by names()
            t = self.table(("queues", name), f"queue '{name}'", body, Queue)
            if t is None:
                continue
            t.unknown_keys()
            agents = self.agents(t)
            strategy = t.string("strategy") or t.default("strategy", str)
            if strategy not in STRATEGIES:
                t.err(
                    "strategy",
                    f"strategy '{strategy}' is not one of {', '.join(STRATEGIES)}",
                )
                strategy = t.default("strategy", str)
            overflow = self.target_key(t, "overflow")
            if "overflow" not in body:
                self.uses_default_goodbye.append(
                    (
                        t.path,
                        f"queue '{name}': no 'overflow' given, and the default "
                        f"hangup:{DEFAULT_GOODBYE} needs a prompt '{DEFAULT_GOODBYE}'",
                    )
                )
            position = t.name("position_prompt", "prompt", self.prompt_names) or None
            out[name] = Queue(
                name=name,
                agents=agents,
                strategy=cast(Strategy, strategy),
                ring_timeout=t.seconds("ring_timeout"),
                wrap_up=t.seconds("wrap_up", zero_ok=True),
                max_wait=t.seconds("max_wait"),
                max_length=t.integer("max_length", minimum=1),
                overflow=overflow,
                timeout=self.target_key(t, "timeout"),
                announce_interval=t.seconds("announce_interval"),
                moh_class=t.string("moh_class") or t.default("moh_class", str),
                position_prompt=position,
                record=t.boolean("record"),
                callback=self.callback(t),
                service_level_threshold=self.service_level_threshold(t),
            )
        return out

    def service_level_threshold(self, t: _Table) -> float:
        """The wallboard's and the reports' service-level threshold: seconds, above 0 and at
        most :data:`MAX_SERVICE_LEVEL_THRESHOLD` (the reports' own bound)."""
        key = "service_level_threshold"
        value = t.seconds(key)
        if value > MAX_SERVICE_LEVEL_THRESHOLD:
            t.err(
                key, f"'{key}' must be at most {MAX_SERVICE_LEVEL_THRESHOLD} seconds, not {value:g}"
            )
            return t.default(key, float)
        return value

    def callback(self, queue: _Table) -> CallbackConfig:
        """``[queues.<name>.callback]``: the in-queue callback option and retry policy."""
        if "callback" not in queue.data:
            return CallbackConfig()
        t = self.table(
            (*queue.path, "callback"),
            f"{queue.where} callback",
            queue.data["callback"],
            CallbackConfig,
        )
        if t is None:
            return CallbackConfig()
        t.unknown_keys()
        key = t.string("key") or t.default("key", str)
        if len(key) != 1 or not _CODE.match(key):
            t.err("key", f"key '{key}' must be one of 0-9, * or #")
            key = t.default("key", str)
        hours: CallbackHours | None = None
        if "hours" in t.data:
            hours = self.callback_hours(t)
        return CallbackConfig(
            offer_in_queue=t.boolean("offer_in_queue"),
            key=key,
            max_attempts=t.integer("max_attempts", minimum=1, maximum=20),
            retry_delay=t.seconds("retry_delay"),
            ring_timeout=t.seconds("ring_timeout"),
            message=t.boolean("message"),
            hours=hours,
        )

    def callback_hours(self, callback: _Table) -> CallbackHours | None:
        """Dialling hours: ``timezone`` and days as in ``[hours]`` (no ``closed``)."""
        t = self.table(
            (*callback.path, "hours"),
            f"{callback.where} hours",
            callback.data["hours"],
            CallbackHours,
        )
        if t is None:
            return None
        timezone = t.string("timezone", required=True)
        if timezone is not None:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                t.err("timezone", f"unknown time zone '{timezone}'")
                timezone = None
        week: dict[int, tuple[tuple[time, time], ...]] = {}
        for key, value in t.data.items():
            if key in t.allowed:  # the rest are days
                continue
            try:
                days = parse_days(key)
                if not isinstance(value, str | list) or not all(
                    isinstance(v, str) for v in (value if isinstance(value, list) else [value])
                ):
                    raise HoursError(
                        f"must be a string or an array of strings, not {toml_type(value)}"
                    )
                intervals = parse_intervals(value)
            except HoursError as exc:
                t.err(key, f"{key}: {exc}")
                continue
            for day in days:
                if day in week:
                    t.err(key, f"{key}: day '{DAYS[day]}' is given twice")
                elif intervals:
                    week[day] = intervals
        return None if timezone is None else CallbackHours(timezone, week)

    def agents(self, t: _Table) -> tuple[str, ...]:
        if "agents" not in t.data:
            t.err(None, "no agents (missing key 'agents')")
            return ()
        raw = t.data["agents"]
        if not isinstance(raw, list):
            t.err("agents", f"'agents' must be an array of agent logins, not {toml_type(raw)}")
            return ()
        if not raw:
            t.err("agents", "no agents")
            return ()
        seen: set[str] = set()
        out: list[str] = []
        for n, agent in enumerate(raw):
            path = (*t.path, "agents", n)
            if not isinstance(agent, str) or not _NAME.match(agent):
                self.f.error(path, f"{t.where}: agent {agent!r} is not an agent login")
                continue
            if agent in seen:
                self.f.error(path, f"{t.where}: agent '{agent}' is listed twice")
                continue
            seen.add(agent)
            out.append(agent)
        return tuple(out)

    def hours(self) -> OpeningHours | None:
        body = self.data["hours"]
        t = self.table(("hours",), "hours", body, OpeningHours)
        if t is None:
            return None
        timezone = t.string("timezone", required=True)
        if timezone is not None:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                t.err("timezone", f"unknown time zone '{timezone}'")
                timezone = None
        closed = self.target_key(t, "closed")
        if "closed" not in body:
            t.err(None, "missing key 'closed' (where callers go outside the hours)")
        week: dict[int, tuple[tuple[time, time], ...]] = {}
        given: dict[int, str] = {}
        for key, value in t.data.items():
            if key in t.allowed:  # the rest are days
                continue
            try:
                days = parse_days(key)
            except HoursError:
                expected = "timezone, closed, a day (mon, tue, ..., sun) or a range like mon-fri"
                t.err(key, f"unknown key '{key}' (expected {expected})")
                continue
            if not (
                isinstance(value, str)
                or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                t.err(
                    key, f"{key}: must be a string or an array of strings, not {toml_type(value)}"
                )
                continue
            try:
                intervals = parse_intervals(value)
            except HoursError as exc:
                t.err(key, f"{key}: {exc}")
                continue
            for day in days:
                if day in given:
                    t.err(key, f"{key}: day '{DAYS[day]}' is already given by '{given[day]}'")
                    continue
                given[day] = key
                if intervals:
                    week[day] = intervals
        if timezone is None or closed is None:
            return None
        return OpeningHours(timezone=timezone, week=week, closed_target=closed)


def _digits(n: int) -> str:
    return f"{n} digit" if n == 1 else f"{n} digits"


def _duplicate_message(dup: Duplicate) -> str:
    p = dup.path
    if len(p) == 4 and p[0] == "menus" and p[2] == "options" and not dup.table:
        return f"menu '{p[1]}': duplicate option '{p[3]}' (first at line {dup.first_line})"
    dotted = ".".join(str(x) for x in p)
    if dup.table:
        return f"table [{dotted}] is defined twice (first at line {dup.first_line})"
    return f"duplicate key '{dotted}' (first at line {dup.first_line})"


def parse_flow_file(path: Path, rel: str) -> ParsedFile:
    """Read, parse and validate one flow file (everything but reachability)."""
    result = ParsedFile(tenant=path.stem, rel=rel)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.errors.append(DefinitionError(rel, 1, f"cannot read: {exc}"))
        return result
    index = index_keys(text)
    result.menu_lines = {
        str(p[1]): line for p, line in index.lines.items() if len(p) == 2 and p[0] == "menus"
    }
    dup_lines = set()
    for dup in index.duplicates:
        result.errors.append(DefinitionError(rel, dup.line, _duplicate_message(dup)))
        dup_lines.add(dup.line)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _TOML_POSITION.search(message)
        line = int(m.group(1)) if m else 1
        if line not in dup_lines:
            detail = _TOML_POSITION.sub("", message)
            column = f" (column {m.group(2)})" if m else ""
            result.errors.append(DefinitionError(rel, line, f"TOML syntax error: {detail}{column}"))
        return result
    parser = _Parser(path, rel, data, index)
    result.draft = parser.parse()
    result.errors.extend(parser.f.errors)
    if not result.errors:
        result.flows = result.draft
    return result


def unreachable_menus(flows: TenantFlows, entries: Iterable[str]) -> list[str]:
    """Menus no call can reach: not the entry menu, not a dialplan entry point, and not a
    target of a reachable menu, of a queue's overflow or timeout or of the closed-hours
    target."""
    roots: list[Target] = [Target("menu", flows.entry)]
    roots += [Target("menu", m) for m in entries]
    if flows.hours is not None:
        roots.append(flows.hours.closed_target)
    seen: set[Target] = set()
    todo = list(roots)
    while todo:
        target = todo.pop()
        if target in seen:
            continue
        seen.add(target)
        if target.kind == "menu" and target.name in flows.menus:
            menu = flows.menus[target.name]
            todo.extend(menu.options.values())
            todo.append(menu.failure_target)
        elif target.kind in ("queue", "callback") and target.name in flows.queues:
            queue = flows.queues[target.name]
            todo.extend(t for t in (queue.overflow, queue.timeout) if t is not None)
    return sorted(name for name in flows.menus if Target("menu", name) not in seen)
