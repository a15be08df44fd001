"""The system text catalogue: every key is said in every language with the same placeholders,
a language Linja does not speak gets English, and no other module holds a copy of a text."""

from __future__ import annotations

import ast
import logging
import string
from pathlib import Path

import pytest

from ivr.flowdefs.flowfile import LANGUAGES as FLOW_LANGUAGES
from ivr.texts import CATALOGUE, LANGUAGES, Text, text

IVR = Path(__file__).resolve().parents[2] / "ivr"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_the_catalogue_speaks_the_languages_flow_files_accept() -> None:
    assert set(LANGUAGES) == {"fi", "sv", "en"} == set(FLOW_LANGUAGES)


@pytest.mark.parametrize("key", list(Text))
def test_every_key_has_a_text_in_every_language(key: Text) -> None:
    texts = CATALOGUE[key]
    assert set(texts) == set(LANGUAGES)
    assert all(texts[lang].strip() == texts[lang] and texts[lang] for lang in LANGUAGES)


@pytest.mark.parametrize("key", list(Text))
def test_placeholders_are_the_same_in_every_language(key: Text) -> None:
    fields = {lang: _fields(CATALOGUE[key][lang]) for lang in LANGUAGES}
    assert fields["fi"] == fields["sv"] == fields["en"], fields
    values = {name: f"<{name}>" for name in fields["fi"]}
    for lang in LANGUAGES:
        said = text(key, lang, **values)
        assert all(v in said for v in values.values()) and "{" not in said


def test_no_key_is_left_out_of_the_catalogue() -> None:
    assert set(CATALOGUE) == set(Text)


def test_texts_are_filled_in_and_a_missing_value_is_an_error() -> None:
    assert text(Text.DIALER_CALLING, "sv", digits="0 4 0") == "Återuppringning. Vi ringer 0 4 0."
    with pytest.raises(KeyError):
        text(Text.QUEUE_POSITION, "fi", pos=2)


def test_a_language_without_texts_gets_english(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ivr.texts"):
        assert text(Text.AGENT_GOODBYE, "de") == CATALOGUE[Text.AGENT_GOODBYE]["en"]
    assert "agent.goodbye" in caplog.text


def test_no_other_module_holds_a_system_text() -> None:
    """Flows ask the catalogue: a copy of one of its texts anywhere else in ivr/ is a text
    that would not change with it."""
    known = {t for texts in CATALOGUE.values() for t in texts.values()}
    known |= {t.split("{")[0] for t in known if "{" in t}  # the fixed part of a template
    copies = []
    for path in sorted(IVR.rglob("*.py")):
        if path.name == "texts.py" and path.parent == IVR:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in known:
                copies.append(f"{path.relative_to(IVR)}:{node.lineno}: {node.value!r}")
    assert copies == []
