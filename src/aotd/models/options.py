"""The multiple-choice protocol every Video-LLM here speaks: the paper's prompts and reading a
reply as one option.

The suffix prompts are the paper's (Sec. 3.4): a task-specific one asks for the answer, and
"Explain the rationale to answer the question." asks for the CoT, so one model learns both
modes and the prompt chooses at inference. A reply is read as an option by ``parse_option``
(a reply that names no option gets a seeded pick, flagged ``fallback`` so that a report
counts it instead of hiding it). The Video-LLM tools, step 4's records and students, and
evaluation all import them from here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aotd.data.text import normalize, tokens
from aotd.llm.base import strip_thinking

MC_SUFFIX = "Answer with the option's letter from the given choices directly and only give the best option."
OE_SUFFIX = "Answer in one word or phrase."
RATIONALE_SUFFIX = "Explain the rationale to answer the question."
LETTERS = "ABCDEFGHIJ"


def question_block(question: str, choices: list[str]) -> str:
    """The question and its lettered options, as the paper's prompts lay them out."""
    lines = [question.strip()]
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def answer_prompt(question: str, choices: list[str]) -> str:
    return question_block(question, choices) + "\n" + (MC_SUFFIX if choices else OE_SUFFIX)


def rationale_prompt(question: str, choices: list[str]) -> str:
    return question_block(question, choices) + "\n" + RATIONALE_SUFFIX


def answer_target(answer: str, choices: list[str]) -> str:
    """The option's letter for multiple choice, the answer text for open-ended."""
    return LETTERS[choices.index(answer)] if choices else answer


# --- multiple choice ---------------------------------------------------------------------------
ParseMethod = Literal["letter", "text", "fallback"]

_MARKUP = re.compile(r"\*\*|__|[`*#>\"“”‘’]")
_PUNCT = re.compile(r"[^\w\s/]")
_LETTER_ONLY = re.compile(r"^[\[(]?\s*([A-Za-z])\s*[\])]?\s*[.:)\]]?$")
_LEADING = re.compile(r"^(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Z])\s*[.):\]])(?=\s|$)")
_LABELLED = re.compile(
    r"\b(?i:answer|option|choice)\b(?:\s+(?i:is|would be|should be|will be))?\s*[:=-]?\s*"
    r"(?:(?i:option|choice|letter)\s+)?"
    r"(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Za-z])(?=\s*(?:$|[.,;:)\]!\n]))|([B-Z])\b)")  # "is A cup": no
_BRACKETED = re.compile(r"\(([A-Za-z])\)")


@dataclass(frozen=True)
class ParsedOption:
    """The option a reply was read as: ``index`` into the choices, and how it was read.

    ``method`` is "letter" (an option letter), "text" (the option's text) or "fallback" (the
    reply named no option: a pick seeded by the sample, never a silent guess).
    """

    index: int
    method: ParseMethod

    @property
    def letter(self) -> str:
        return chr(ord("A") + self.index)

    @property
    def fallback(self) -> bool:
        return self.method == "fallback"


def seeded_index(rng_seed: int | str, n: int) -> int:
    """A pick in 0..n-1 that depends only on ``rng_seed`` (sha256: the same in every process)."""
    digest = hashlib.sha256(str(rng_seed).encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def _plain(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _letter_index(letter: str, n: int) -> int | None:
    i = ord(letter.upper()) - ord("A")
    return i if 0 <= i < n else None


def _one(indices: Iterable[int | None]) -> int | None:
    found = {i for i in indices if i is not None}
    return found.pop() if len(found) == 1 else None


def _by_letter(text: str, n: int) -> int | None:
    """"B", "(B)", "B.", "B) Took the cup", "The answer is B", "Answer: (c)", "I pick (b) because ..."."""
    for pattern in (_LETTER_ONLY, _LEADING):
        m = pattern.match(text)
        if m:
            letter = next(g for g in m.groups() if g)
            index = _letter_index(letter, n)
            if index is not None:
                return index
    labelled = _one(_letter_index(next(g for g in m.groups() if g), n) for m in _LABELLED.finditer(text))
    if labelled is not None:
        return labelled
    return _one(_letter_index(m.group(1), n) for m in _BRACKETED.finditer(text))


def _maximal(found: list[int], covers: Any) -> list[int]:
    """Candidates that no other candidate covers (a longer phrase containing the shorter one)."""
    return [i for i in found if not any(j != i and covers(j, i) for j in found)]


def _by_text(text: str, choices: list[str]) -> int | None:
    """The option's text: the whole reply, or embedded in a sentence when exactly one option fits."""
    reply, plain = normalize(text), _plain(text)
    plains = [_plain(c) for c in choices]
    exact = _one(i for i, c in enumerate(choices) if plains[i] and plains[i] == plain)
    if exact is not None:
        return exact
    exact = _one(i for i, c in enumerate(choices) if normalize(c) and normalize(c) == reply)
    if exact is not None:
        return exact
    padded = f" {plain} "
    found = [i for i, p in enumerate(plains) if p and f" {p} " in padded]
    found = _maximal(found, lambda j, i: plains[i] != plains[j] and f" {plains[i]} " in f" {plains[j]} ")
    if len(found) == 1:
        return found[0]
    words = tokens(plain)
    sets = [tokens(c) for c in choices]
    found = [i for i, s in enumerate(sets) if s and s <= words]
    found = _maximal(found, lambda j, i: sets[i] < sets[j])
    return found[0] if len(found) == 1 else None


def parse_option(reply: str, choices: list[str], *, rng_seed: int | str) -> ParsedOption:
    """Read a model's multiple-choice reply as one of ``choices``.

    In order, after dropping ``<think>`` sections and markdown:

    1. a letter: the whole reply ("B", "(b)", "B."), a leading letter ("B) Took the cup",
       "C. ..."), a labelled letter ("The answer is B", "Answer: (c)", "Option D") or a
       bracketed one ("I pick (B) because ..."), if only one letter in range is named;
    2. the text of an option: the whole reply, case and punctuation aside or equal after
       ``data.text.normalize`` ("took cup" for "Took the cup."); then an option embedded in a
       sentence, as a phrase or as all its content words, when exactly one option fits (a longer
       option that contains a shorter one wins);
    3. otherwise a pick seeded by ``rng_seed`` (use the sample id), ``method="fallback"``.
    """
    if not choices:
        raise ValueError("parse_option needs at least one choice")
    text = _MARKUP.sub(" ", strip_thinking(str(reply))).strip()
    text = " ".join(text.split())
    if text:
        index = _by_letter(text, len(choices))
        if index is not None:
            return ParsedOption(index, "letter")
        index = _by_text(text, choices)
        if index is not None:
            return ParsedOption(index, "text")
    return ParsedOption(seeded_index(rng_seed, len(choices)), "fallback")
