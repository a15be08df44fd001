"""The console's UI texts, Finnish and English: one module per page area in this package,
each with ``TEXTS = {"area.key": {"fi": "...", "en": "..."}}``. Every module here is loaded
(no registration); a key defined twice, or missing a language, is refused at start.

Texts may hold ``{name}`` placeholders, filled by ``t("key", name=value)`` in templates.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

LANGUAGES = ("fi", "en")
DEFAULT_LANGUAGE = "fi"


class CatalogueError(ValueError):
    """A key defined twice or missing a language."""


class Catalogue:
    def __init__(self, texts: Mapping[str, Mapping[str, str]]) -> None:
        for key, by_lang in texts.items():
            missing = [lang for lang in LANGUAGES if not by_lang.get(lang)]
            if missing:
                raise CatalogueError(f"console text {key!r} has no {', '.join(missing)}")
        self._texts = {k: dict(v) for k, v in texts.items()}

    @classmethod
    def load(cls) -> Catalogue:
        """Every ``TEXTS`` of the modules of this package, merged."""
        merged: dict[str, Mapping[str, str]] = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            module = importlib.import_module(f"{__name__}.{info.name}")
            texts: Mapping[str, Mapping[str, str]] = module.TEXTS
            for key, value in texts.items():
                if key in merged:
                    raise CatalogueError(f"console text {key!r} is defined twice ({info.name})")
                merged[key] = value
        return cls(merged)

    def keys(self) -> set[str]:
        return set(self._texts)

    def text(self, lang: str, key: str, **values: object) -> str:
        """The text of ``key`` in ``lang`` (a missing key shows as itself, to be noticed)."""
        by_lang = self._texts.get(key)
        if by_lang is None:
            return key
        text = by_lang.get(lang) or by_lang[DEFAULT_LANGUAGE]
        return text.format(**values) if values else text
