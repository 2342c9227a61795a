"""Two-step verification: (i) the program's answer is right, (ii) the rationale is good.

Stage (i) compares with the label: the exact option for multiple choice; for open-ended
questions a normalised match (case, punctuation, articles, verb forms), or an LLM judge when
configured. Stage (ii) is the paper's yes/no LLM judgement; ``RuleJudge`` is the embedded
default's checker for the same properties, reading only the rationale text, as an LLM would.
"""

from __future__ import annotations

import re

from aotd.data.records import Verdict
from aotd.data.text import normalize, tokens


def exact_answer(prediction: object, label: str) -> Verdict:
    """Multiple choice: the program returned exactly the labelled option."""
    ok = prediction == label
    return Verdict(passed=ok, method="exact", reason=None if ok else f"predicted {str(prediction)[:80]!r}, label {label!r}")


class NormalizedAnswer:
    """Open-ended stage (i) without an LLM: equal after ``normalize``."""

    name = "normalized"

    def check(self, question: str, label: str, prediction: str) -> Verdict:
        a, b = normalize(prediction), normalize(label)
        ok = bool(a) and a == b
        return Verdict(passed=ok, method=self.name, reason=None if ok else f"{prediction!r} does not match {label!r}")


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_GROUNDING = re.compile(r"\bframes? \d+|\[\s*\d+(?:\.\d+)?\s*,\s*\d+(?:\.\d+)?\s*,\s*\d+(?:\.\d+)?\s*,\s*\d+(?:\.\d+)?\s*\]")
_VAGUE = re.compile(r"\band so on\b|\betc\.?|\.\.\.|…", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|can't|don't|doesn't|didn't|nothing|none)\b", re.IGNORECASE)


def _lists_options(sentence: str, question: str, choices: list[str]) -> bool:
    """The sentence names the content of at least three choices (all of them, when fewer)."""
    have, asked = tokens(sentence), tokens(question)
    named = sum(bool(w) and w <= have for w in (tokens(c) - asked or tokens(c) for c in choices))
    return len(choices) >= 2 and named >= min(3, len(choices))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


class RuleJudge:
    """Stage (ii) by rules: does the rationale think step by step and help answer?

    Checks, each named in the verdict when it fails:
    ``steps``      at least two reasoning sentences before the conclusion;
    ``grounded``   it cites where: a frame, a frame window or a box;
    ``concludes``  the last sentence states the answer;
    ``supported``  the answer's content words appear in the reasoning, not only in the conclusion,
                   and not only in a list of the options (a sentence naming several choices, like
                   "asked which of the cup, the book or the box", supports none of them);
    ``consistent`` no reasoning sentence denies the answer (the object it names "not found");
    ``complete``   nothing elided ("and so on", "etc.", "...").
    """

    name = "rules"

    def judge(self, question: str, choices: list[str], answer: str, rationale: str) -> Verdict:
        parts = sentences(rationale)
        if not parts:
            return Verdict(passed=False, method=self.name, reason="empty")
        reasoning, conclusion = parts[:-1], parts[-1]
        body = " ".join(reasoning)
        want = tokens(answer) - tokens(question) or tokens(answer)
        failed = []
        if len(reasoning) < 2:
            failed.append("steps")
        if not _GROUNDING.search(body):
            failed.append("grounded")
        if not normalize(answer) or normalize(answer) not in normalize(conclusion) and not want <= tokens(conclusion):
            failed.append("concludes")
        if want and not any(want <= tokens(s) and not _lists_options(s, question, choices) for s in reasoning):
            failed.append("supported")
        if want and any(_NEGATION.search(s) and want <= tokens(s) for s in reasoning):
            failed.append("consistent")
        if _VAGUE.search(rationale):
            failed.append("complete")
        return Verdict(passed=not failed, method=self.name, reason=", ".join(failed) or None)
