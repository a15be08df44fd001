"""Finds what in a sounds directory derives from a phone number: a file whose name or content
holds the number in any spelling, or whose name is the hash of a text that says it (as a cached
text-to-speech render of "we will call you back on 0 4 0, ..." was)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ivr.audio import tts_key
from ivr.texts import LANGUAGES, Text, text


def _grouped(digits: str) -> list[str]:
    groups, rest = [], digits
    while len(rest) > 4:
        groups.append(rest[:3])
        rest = rest[3:]
    return [*groups, rest]


def spellings(e164: str) -> set[str]:
    """Every way the number could be written: E.164, national, digits spaced and grouped."""
    national = "0" + e164[4:] if e164.startswith("+358") else e164
    forms = {e164, e164[1:], national, e164[4:], "00" + e164[1:]}
    spaced = {" ".join(f.lstrip("+")) for f in forms}
    grouped = set()
    for f in (national.lstrip("+"), e164.lstrip("+")):
        groups = _grouped(f)
        grouped |= {", ".join(" ".join(g) for g in groups), " ".join(groups)}
    return forms | spaced | grouped | {"plus " + g for g in grouped}


def texts_with(e164: str) -> set[str]:
    """The texts that say the number within a sentence, in every language and spelling."""
    return {
        text(key, lang, digits=s)
        for key in (Text.CALLBACK_CONFIRM, Text.DIALER_CALLING)
        for lang in LANGUAGES
        for s in spellings(e164)
    }


def derived(e164: str, spoken: Iterable[str] = ()) -> set[str]:
    """Cache names (file stems) of renders of texts with the number: the catalogue's
    sentences, and any of ``spoken`` (texts a fake speaker was given) that holds it."""
    forms = spellings(e164)
    said = texts_with(e164) | {t for t in spoken if any(f in t for f in forms)}
    return {tts_key(t, lang) for t in said for lang in LANGUAGES}


def traces(sounds: Path, e164: str, spoken: Iterable[str] = ()) -> list[str]:
    """Each file under ``sounds`` that derives from the number, with why."""
    found: list[str] = []
    forms = spellings(e164)
    hashed = derived(e164, spoken)
    for path in sorted(sounds.rglob("*")):
        if not path.is_file():
            continue
        content = path.read_bytes().decode("latin-1")
        found += [f"{path.name}: name has {f!r}" for f in forms if f in path.name]
        found += [f"{path.name}: content has {f!r}" for f in forms if f in content]
        if path.stem in hashed:
            found.append(f"{path.name}: the hash of a text with the number")
    return found
