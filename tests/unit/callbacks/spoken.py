"""What a list of media says: reads the renderer's cached texts, digit sounds and pauses back
into words, for tests that check how a number was said."""

from __future__ import annotations

from ivr.audio import hashlib_key, silence, tts_key
from ivr.prompts import GROUP_PAUSE
from ivr.texts import CATALOGUE, DIGITS


def heard(media: list[str], lang: str = "fi", *, texts: tuple[str, ...] = ()) -> list[str]:
    """Each media item as what it says: a digit ("4"), "," for the pause between groups, a
    known text (``texts``, or any whole catalogue text in ``lang``), else the media itself."""
    names: dict[str, str] = {}
    for char, word in DIGITS[lang].items():  # type: ignore[index]
        names[f"digit-{tts_key(word, lang)}"] = char
    names[hashlib_key(silence(GROUP_PAUSE))] = ","
    known = {t[lang] for t in CATALOGUE.values() if lang in t} | set(texts)  # type: ignore[index]
    for t in known:
        names[tts_key(t, lang)] = names[f"part-{tts_key(t, lang)}"] = t
    return [names.get(m.rsplit("/", 1)[-1], m) for m in media]
