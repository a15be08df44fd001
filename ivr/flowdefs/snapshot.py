"""The last validated flow definitions as JSON (``<state_dir>/flows.json``).

``linja dialplan reload`` writes it after Asterisk took the new dialplan, so it always holds
definitions that passed validation, matching what Asterisk routes. A controller that finds
the editable files broken at start-up can serve this instead.
"""

from __future__ import annotations

import json
import os
from datetime import time
from pathlib import Path
from typing import Any, cast

from ivr.flowdefs.model import (
    CallbackConfig,
    CallbackHours,
    Menu,
    OpeningHours,
    Prompt,
    Queue,
    RecordingConfig,
    Strategy,
    Target,
    TargetKind,
    TenantFlows,
    VoicemailConfig,
)

VERSION = 1


def _target(text: str) -> Target:
    kind, _, name = text.partition(":")
    return Target(cast(TargetKind, kind), name)


def _recording(d: dict[str, Any] | None) -> RecordingConfig:
    if not d:
        return RecordingConfig()
    return RecordingConfig(
        notice=d["notice"],
        replay_on_transfer=bool(d["replay_on_transfer"]),
        numbers=tuple(d["numbers"]),
    )


def _week_to_json(week: dict[int, tuple[tuple[time, time], ...]]) -> dict[str, Any]:
    return {str(day): [[a.isoformat(), b.isoformat()] for a, b in iv] for day, iv in week.items()}


def _week_from_json(week: dict[str, Any]) -> dict[int, tuple[tuple[time, time], ...]]:
    return {
        int(day): tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in intervals)
        for day, intervals in week.items()
    }


def _callback_to_json(c: CallbackConfig) -> dict[str, Any]:
    return {
        "offer_in_queue": c.offer_in_queue,
        "key": c.key,
        "max_attempts": c.max_attempts,
        "retry_delay": c.retry_delay,
        "ring_timeout": c.ring_timeout,
        "message": c.message,
        "hours": None
        if c.hours is None
        else {"timezone": c.hours.timezone, "week": _week_to_json(c.hours.week)},
    }


def _callback(d: dict[str, Any] | None) -> CallbackConfig:
    if not d:
        return CallbackConfig()
    hours = d.get("hours")
    return CallbackConfig(
        offer_in_queue=bool(d["offer_in_queue"]),
        key=d["key"],
        max_attempts=d["max_attempts"],
        retry_delay=d["retry_delay"],
        ring_timeout=d["ring_timeout"],
        message=bool(d.get("message", False)),
        hours=None
        if hours is None
        else CallbackHours(hours["timezone"], _week_from_json(hours["week"])),
    )


def flows_to_json(flows: dict[str, TenantFlows]) -> dict[str, Any]:
    def tenant(t: TenantFlows) -> dict[str, Any]:
        return {
            "tenant": t.tenant,
            "language": t.language,
            "entry": t.entry,
            "source": t.source,
            "prompts": {
                n: {"text": p.text, "sound": p.sound, "file": p.file, "language": p.language}
                for n, p in t.prompts.items()
            },
            "menus": {
                n: {
                    "prompt": m.prompt,
                    "options": {code: str(target) for code, target in m.options.items()},
                    "max_digits": m.max_digits,
                    "first_digit_timeout": m.first_digit_timeout,
                    "inter_digit_timeout": m.inter_digit_timeout,
                    "retries": m.retries,
                    "invalid_prompt": m.invalid_prompt,
                    "no_input_prompt": m.no_input_prompt,
                    "failure_target": str(m.failure_target),
                }
                for n, m in t.menus.items()
            },
            "queues": {
                n: {
                    "agents": list(q.agents),
                    "strategy": q.strategy,
                    "ring_timeout": q.ring_timeout,
                    "wrap_up": q.wrap_up,
                    "max_wait": q.max_wait,
                    "max_length": q.max_length,
                    "overflow": None if q.overflow is None else str(q.overflow),
                    "announce_interval": q.announce_interval,
                    "moh_class": q.moh_class,
                    "position_prompt": q.position_prompt,
                    "record": q.record,
                    "callback": _callback_to_json(q.callback),
                }
                for n, q in t.queues.items()
            },
            "hours": None
            if t.hours is None
            else {
                "timezone": t.hours.timezone,
                "closed_target": str(t.hours.closed_target),
                "week": {
                    str(day): [[a.isoformat(), b.isoformat()] for a, b in intervals]
                    for day, intervals in t.hours.week.items()
                },
            },
            "recording": {
                "notice": t.recording.notice,
                "replay_on_transfer": t.recording.replay_on_transfer,
                "numbers": list(t.recording.numbers),
            },
            "voicemail": {
                "max_length": t.voicemail.max_length,
                "max_silence": t.voicemail.max_silence,
                "prompt": t.voicemail.prompt,
                "thanks": t.voicemail.thanks,
            },
        }

    return {"version": VERSION, "tenants": {name: tenant(t) for name, t in flows.items()}}


def flows_from_json(data: dict[str, Any]) -> dict[str, TenantFlows]:
    if data.get("version") != VERSION:
        raise ValueError(f"flow snapshot version {data.get('version')!r}, expected {VERSION}")

    def tenant(d: dict[str, Any]) -> TenantFlows:
        hours = d["hours"]
        return TenantFlows(
            tenant=d["tenant"],
            language=d["language"],
            entry=d["entry"],
            source=d["source"],
            prompts={n: Prompt(n, **p) for n, p in d["prompts"].items()},
            menus={
                n: Menu(
                    name=n,
                    prompt=m["prompt"],
                    options={c: _target(t) for c, t in m["options"].items()},
                    max_digits=m["max_digits"],
                    first_digit_timeout=m["first_digit_timeout"],
                    inter_digit_timeout=m["inter_digit_timeout"],
                    retries=m["retries"],
                    invalid_prompt=m["invalid_prompt"],
                    no_input_prompt=m["no_input_prompt"],
                    failure_target=_target(m["failure_target"]),
                )
                for n, m in d["menus"].items()
            },
            queues={
                n: Queue(
                    name=n,
                    agents=tuple(q["agents"]),
                    strategy=cast(Strategy, q["strategy"]),
                    ring_timeout=q["ring_timeout"],
                    wrap_up=q["wrap_up"],
                    max_wait=q["max_wait"],
                    max_length=q["max_length"],
                    overflow=None if q["overflow"] is None else _target(q["overflow"]),
                    announce_interval=q["announce_interval"],
                    moh_class=q["moh_class"],
                    position_prompt=q["position_prompt"],
                    record=bool(q.get("record", False)),
                    callback=_callback(q.get("callback")),
                )
                for n, q in d["queues"].items()
            },
            hours=None
            if hours is None
            else OpeningHours(
                timezone=hours["timezone"],
                closed_target=_target(hours["closed_target"]),
                week={
                    int(day): tuple(
                        (time.fromisoformat(a), time.fromisoformat(b)) for a, b in intervals
                    )
                    for day, intervals in hours["week"].items()
                },
            ),
            recording=_recording(d.get("recording")),
            voicemail=VoicemailConfig(**(d.get("voicemail") or {})),
        )

    return {name: tenant(t) for name, t in data["tenants"].items()}


def write_snapshot(path: Path, flows: dict[str, TenantFlows]) -> None:
    """Atomically replace ``path`` with the definitions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(flows_to_json(flows), ensure_ascii=False, indent=1) + "\n")
    os.replace(tmp, path)


def read_snapshot(path: Path) -> dict[str, TenantFlows]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a flow snapshot")
    return flows_from_json(data)
