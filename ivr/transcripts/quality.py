"""How good a transcript and its redaction are: word error rate, and redaction recall and
precision against a ground truth. Pure; used by the test set's test and the benchmark."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.transcripts.numbers import normalise

_WORDS = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-case words with numbers as digits ("Nolla neljä" -> ["0", "4"])."""
    return _WORDS.findall(normalise(text).text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words (Levenshtein on words)."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


def compact(text: str) -> str:
    """Letters and digits only, lower case, number words as digits: the form in which an
    identifier is looked for "in any spelling"."""
    return re.sub(r"[\W_]", "", normalise(text).text.lower())


def leaked(identifier: str, stored: str) -> bool:
    """Whether ``identifier`` (say "040 123 4567" or "matti.meikalainen@esimerkki.fi")
    shows in ``stored`` in any spelling: digits, number words, with spaces or without. An
    e-mail address leaks when its local part does."""
    ident = identifier.split("@")[0] if "@" in identifier else identifier
    key = compact(ident)
    return bool(key) and key in compact(stored)


@dataclass(frozen=True, slots=True)
class RedactionScore:
    """Over identifiers that the transcript did carry: recall = redacted / carried;
    precision = placeholders that stand for an identifier / all placeholders."""

    carried: int
    redacted: int
    placeholders: int
    true_placeholders: int

    @property
    def recall(self) -> float:
        return 1.0 if self.carried == 0 else self.redacted / self.carried

    @property
    def precision(self) -> float:
        return 1.0 if self.placeholders == 0 else self.true_placeholders / self.placeholders
