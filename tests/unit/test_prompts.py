"""The prompt renderer: texts are rendered once and cached, concurrent askers share one
render, the table of renders in flight stays bounded, numbers are said digit by digit from
cached per-digit sounds, and digit sounds are trimmed of espeak's silence."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.audio import pcm_to_wav, silence, trim_silence, wav_duration
from ivr.prompts import PromptRenderer
from ivr.texts import Text
from tests.unit.callbacks.spoken import heard


def files(path: Path) -> list[Path]:
    return list(path.iterdir())


class Speaker:
    def __init__(self, *, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        self.said: list[tuple[str, str]] = []
        self.gate = gate
        self.fail = fail
        self.renderer: PromptRenderer | None = None
        self.most_in_flight = 0

    async def __call__(self, text: str, language: str) -> bytes:
        self.said.append((text, language))
        if self.renderer is not None:
            self.most_in_flight = max(self.most_in_flight, self.renderer.rendering)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("espeak failed")
        return pcm_to_wav(b"\0\0" * 40 + b"\x00\x40" * 400 + b"\0\0" * 4000)


async def test_the_lock_table_stays_bounded_after_10000_distinct_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ivr.audio.os.fsync", lambda fd: None)  # 10,000 fsyncs take 30 s
    speak = Speaker()
    prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
    speak.renderer = prompts
    batch = 50
    for start in range(0, 10_000, batch):
        await asyncio.gather(
            *(prompts.text(f"text {n}", "fi") for n in range(start, start + batch))
        )
        assert prompts.rendering == 0  # nothing is kept once rendered
    assert len(speak.said) == 10_000 and len(files(tmp_path)) == 10_000
    assert 1 < speak.most_in_flight <= batch  # concurrent renders, never more than asked


async def test_concurrent_askers_of_one_text_share_one_render(tmp_path: Path) -> None:
    gate = asyncio.Event()
    speak = Speaker(gate=gate)
    prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
    askers = [asyncio.create_task(prompts.text("Hei.", "fi")) for _ in range(20)]
    await asyncio.sleep(0.01)
    assert prompts.rendering == 1
    gate.set()
    media = await asyncio.gather(*askers)
    assert len(set(media)) == 1 and speak.said == [("Hei.", "fi")]
    assert prompts.rendering == 0
    assert await prompts.text("Hei.", "fi") == media[0] and len(speak.said) == 1  # cached


async def test_a_failed_render_fails_its_askers_and_is_tried_again(tmp_path: Path) -> None:
    speak = Speaker(fail=True)
    prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
    results = await asyncio.gather(
        prompts.text("Hei.", "fi"), prompts.text("Hei.", "fi"), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results) and len(speak.said) == 1
    assert prompts.rendering == 0 and files(tmp_path) == []
    speak.fail = False
    assert (await prompts.text("Hei.", "fi")).startswith("sound:/sounds/")
    assert len(speak.said) == 2


async def test_a_cancelled_asker_leaves_the_render_to_the_others(tmp_path: Path) -> None:
    gate = asyncio.Event()
    speak = Speaker(gate=gate)
    prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
    first = asyncio.create_task(prompts.text("Hei.", "fi"))
    second = asyncio.create_task(prompts.text("Hei.", "fi"))
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0.01)
    gate.set()
    assert (await second).startswith("sound:/sounds/")
    assert first.cancelled() and len(speak.said) == 1 and prompts.rendering == 0


@pytest.mark.parametrize(
    ("number", "lang", "said"),
    [
        ("0401234567", "fi", "040,123,4567"),
        ("091234567", "sv", "091,234,567"),
        ("+447700900123", "en", "+447,700,900,123"),
        ("1234", "fi", "1234"),
        ("", "fi", ""),
    ],
)
async def test_a_number_is_said_digit_by_digit_in_groups(
    tmp_path: Path, number: str, lang: str, said: str
) -> None:
    speak = Speaker()
    prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
    media = await prompts.digits(number, lang)
    assert "".join(heard(media, lang)) == said
    words = {t for t, _ in speak.said}
    assert all(" " not in w and not any(c.isdigit() for c in w) for w in words)  # one word each
    assert len(speak.said) == len(set(number) - {"+"}) + number.startswith("+")


async def test_each_digit_is_rendered_once_whatever_the_number(tmp_path: Path) -> None:
    speak = Speaker()
    prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
    for n in range(200):
        await prompts.digits(f"040{n:07d}", "fi")
    assert len(speak.said) == 10  # nolla ... yhdeksän
    assert len(files(tmp_path)) == 11  # and the pause between groups


@pytest.mark.parametrize("bad", ["040 123", "abc", "+", "12+3", "٣"])
async def test_only_a_number_is_said_as_digits(tmp_path: Path, bad: str) -> None:
    prompts = PromptRenderer(tmp_path, "/sounds", speak=Speaker())
    with pytest.raises(ValueError, match="number"):
        await prompts.digits(bad, "fi")


async def test_a_sentence_caches_its_texts_and_says_the_number_between_them(
    tmp_path: Path,
) -> None:
    speak = Speaker()
    prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
    confirm = await prompts.sentence(Text.CALLBACK_CONFIRM, "en", digits="0401234567")
    before = "We will call you back on"
    after = ". Press 1 to confirm, or 2 to key in another number."
    assert heard(confirm, "en", texts=(before, after)) == [
        *[before, *"040", ",", *"123", ",", *"4567", after]
    ]
    calling = await prompts.sentence(Text.DIALER_CALLING, "fi", digits="+447700900123")
    assert heard(calling, "fi", texts=("Takaisinsoitto. Soitetaan numeroon",)) == [
        *["Takaisinsoitto. Soitetaan numeroon", *"+447", ",", *"700", ",", *"900", ",", *"123"]
    ]  # the lone "." after the number is not said
    assert (".", "fi") not in speak.said


def test_digit_sounds_are_trimmed_of_silence() -> None:
    speech = b"\x00\x40" * 800  # 0.1 s of sound
    padded = pcm_to_wav(b"\0\0" * 4000 + speech + b"\0\0" * 8000)
    trimmed = trim_silence(padded, margin=0.05)
    assert wav_duration(trimmed) == pytest.approx(0.2, abs=0.001)
    assert trim_silence(silence(0.3)) == silence(0.3)  # nothing to keep: left as it is
