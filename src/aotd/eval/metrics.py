"""Answer metrics of step 4: multiple-choice parsing, open-ended judging, accuracy tables.

Multiple choice is the paper's top-1 accuracy: a model's reply is read as one option
(``parse_option``); a reply that names no option gets a seeded pick, flagged ``fallback`` so
that a report counts it instead of hiding it. Open-ended answers are scored as the paper does
with GPT-3.5: a judge LLM says whether the prediction is correct (Acc.) and gives a 0-5 score
(Score), with Video-ChatGPT's prompt (``LLMScoreJudge``); ``normalized_match`` is the
LLM-free check. ``accuracy_summary`` aggregates rows overall and per question type.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aotd.cot.llm import parse_yes_no, strip_thinking
from aotd.cot.verify import normalize
from aotd.llm.base import LLMBackend, LLMError, Message
from aotd.tools.api import tokens

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
       ``cot.verify.normalize`` ("took cup" for "Took the cup."); then an option embedded in a
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


# --- open-ended --------------------------------------------------------------------------------
def normalized_match(prediction: str, label: str) -> bool:
    """Equal after ``cot.verify.normalize`` (case, punctuation, articles, verb forms), and not empty."""
    a = normalize(prediction)
    return bool(a) and a == normalize(label)


# Video-ChatGPT's quantitative QA evaluation prompt (Maaz et al., 2024), as the paper used with GPT-3.5.
JUDGE_SYSTEM = (
    "You are an intelligent chatbot designed for evaluating the correctness of generative outputs for "
    "question-answer pairs. Your task is to compare the predicted answer with the correct answer and determine "
    "if they match meaningfully. Here's how you can accomplish the task:\n------\n##INSTRUCTIONS: \n"
    "- Focus on the meaningful match between the predicted answer and the correct answer.\n"
    "- Consider synonyms or paraphrases as valid matches.\n"
    "- Evaluate the correctness of the prediction compared to the answer.")
JUDGE_USER = (
    "Please evaluate the following video-based question-answer pair:\n\n"
    "Question: {question}\nCorrect Answer: {label}\nPredicted Answer: {prediction}\n\n"
    "Provide your evaluation only as a yes/no and score where the score is an integer value between 0 and 5, "
    "with 5 indicating the highest meaningful match. Please generate the response in the form of a Python "
    "dictionary string with keys 'pred' and 'score', where value of 'pred' is  a string of 'yes' or 'no' and "
    "value of 'score' is in INTEGER, not STRING. DO NOT PROVIDE ANY OTHER OUTPUT TEXT OR EXPLANATION. Only "
    "provide the Python dictionary string. For example, your response should look like this: "
    "{{'pred': 'yes', 'score': 4}}.")

MAX_SCORE = 5.0


def judge_messages(question: str, label: str, prediction: str) -> list[Message]:
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": JUDGE_USER.format(question=question, label=label, prediction=prediction)}]


@dataclass(frozen=True)
class JudgeScore:
    """One open-ended answer judged: correct (Acc.) and a 0-5 score (Score), and by whom.

    ``correct`` is None when there is no verdict: the backend failed (``error`` starts with
    "llm error") or the reply was unparsable (``error == "unparsable reply"``). ``score`` may be
    None with a verdict (the reply gave none, or one outside 0-5). ``method`` is "llm:<model>",
    or "normalized" for a match decided without a call.
    """

    correct: bool | None
    score: float | None
    method: str
    reply: str | None = None
    error: str | None = None

    @property
    def parsed(self) -> bool:
        return self.correct is not None


_DICT = re.compile(r"\{[^{}]*\}")
_FENCE = re.compile(r"```[\w+.-]*|~~~")
_PRED_KEYS = ("pred", "prediction", "correct", "verdict", "answer", "judgement", "judgment")
_KV_PRED = re.compile(r"['\"]?\b(?:pred|prediction|correct|verdict)\b['\"]?\s*[:=]\s*['\"]?\s*(yes|no|true|false)\b",
                      re.IGNORECASE)
_KV_SCORE = re.compile(r"['\"]?\bscore\b['\"]?\s*(?:[:=]|\bis\b|\bof\b)?\s*['\"]?\s*(-?\d+(?:\.\d+)?)"
                       r"(?:\s*(?:/|out of)\s*5(?:\.0+)?)?", re.IGNORECASE)
_WRONG = re.compile(r"\b(?:incorrect|not correct|wrong|does not match|doesn't match)\b", re.IGNORECASE)
_RIGHT = re.compile(r"\b(?:correct|matches)\b", re.IGNORECASE)


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().strip(".!").lower()
        return {"yes": True, "true": True, "correct": True, "no": False, "false": False,
                "incorrect": False}.get(word)
    return None


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if 0.0 <= score <= MAX_SCORE else None


def _load_dict(text: str) -> dict[str, Any] | None:
    for load in (json.loads, ast.literal_eval):
        try:
            value = load(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return {str(k).strip().lower(): v for k, v in value.items()}
    return None


def parse_judge_reply(reply: str) -> tuple[bool | None, float | None]:
    """(correct, score) from a judge's reply; None for what it does not clearly say.

    A dict ({"pred": "yes", "score": 4} as JSON or as a Python literal, in a code fence or
    among other text) wins; otherwise "pred: yes" / "score: 4" (also "4/5") in free text, the
    verdict then read by ``cot.llm.parse_yes_no`` with the score phrase removed, and finally
    "correct" / "incorrect". A score outside 0-5 counts as none.
    """
    text = _FENCE.sub(" ", strip_thinking(str(reply)))
    for m in _DICT.finditer(text):
        d = _load_dict(m.group(0))
        if not d:
            continue
        correct = next((_truth(d[k]) for k in _PRED_KEYS if k in d and _truth(d[k]) is not None), None)
        score = _score(d.get("score"))
        if correct is not None or score is not None:
            return correct, score
    kv = _KV_PRED.search(text)
    sm = _KV_SCORE.search(text)
    score = _score(sm.group(1)) if sm else None
    if kv:
        return _truth(kv.group(1)), score
    rest = _KV_SCORE.sub(" ", text)
    correct = parse_yes_no(rest)
    if correct is None:
        wrong, right = bool(_WRONG.search(rest)), bool(_RIGHT.search(_WRONG.sub(" ", rest)))
        correct = False if wrong and not right else True if right and not wrong else None
    return correct, score


class LLMScoreJudge:
    """Open-ended Acc. and Score: a judge LLM asked Video-ChatGPT's question for each answer.

    Unlike step 3's yes/no ``aotd.cot.llm.LLMAnswerJudge`` (a filter), this one scores, as the
    paper's evaluation does: every prediction is sent, unless ``shortcut`` is set, when answers
    equal after ``normalize`` are scored (correct, 5) without a call (method "normalized").
    A backend failure or an unparsable reply never raises: it is a ``JudgeScore`` with
    ``correct=None`` and the reason in ``error``.
    """

    def __init__(self, backend: LLMBackend, *, max_tokens: int = 64, temperature: float = 0.0,
                 shortcut: bool = False) -> None:
        self.backend, self.max_tokens, self.temperature, self.shortcut = backend, max_tokens, temperature, shortcut
        self.name = f"llm:{backend.model}"

    def score(self, question: str, label: str, prediction: str) -> JudgeScore:
        if self.shortcut and normalized_match(prediction, label):
            return JudgeScore(correct=True, score=MAX_SCORE, method="normalized")
        try:
            reply = self.backend.complete(judge_messages(question, label, prediction),
                                          temperature=self.temperature, max_tokens=self.max_tokens)
        except LLMError as exc:
            return JudgeScore(correct=None, score=None, method=self.name, error=f"llm error: {exc}")
        correct, score = parse_judge_reply(reply)
        return JudgeScore(correct=correct, score=score, method=self.name, reply=reply,
                          error=None if correct is not None else "unparsable reply")


# --- aggregation -------------------------------------------------------------------------------
@dataclass
class Accuracy:
    """Counts of one group of rows. ``accuracy`` is correct / n: an unscored row counts as wrong."""

    n: int = 0
    correct: int = 0
    unscored: int = 0  # no verdict (judge failed or unparsable)
    fallbacks: int = 0  # multiple-choice replies that named no option
    score_sum: float = 0.0
    scores: int = 0  # rows with a judge score

    def add(self, correct: bool | None, *, fallback: bool = False, score: float | None = None) -> None:
        self.n += 1
        self.correct += correct is True
        self.unscored += correct is None
        self.fallbacks += bool(fallback)
        if score is not None:
            self.score_sum += float(score)
            self.scores += 1

    @property
    def scored(self) -> int:
        return self.n - self.unscored

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.scores if self.scores else None

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "scored": self.scored, "correct": self.correct, "accuracy": self.accuracy,
                "unscored": self.unscored, "fallbacks": self.fallbacks, "mean_score": self.mean_score}


@dataclass
class AccuracySummary:
    overall: Accuracy = field(default_factory=Accuracy)
    per_type: dict[str, Accuracy] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"overall": self.overall.to_json(),
                "per_type": {k: v.to_json() for k, v in sorted(self.per_type.items())}}


def _field(row: Mapping[str, Any] | Any, name: str, default: Any = None) -> Any:
    return row.get(name, default) if isinstance(row, Mapping) else getattr(row, name, default)


def accuracy_summary(rows: Iterable[Mapping[str, Any] | Any]) -> AccuracySummary:
    """Overall and per-``question_type`` accuracy of rows (dicts or objects) with fields
    ``correct`` (bool, or None when unscored), and optionally ``question_type`` (missing or
    empty: "unknown"), ``fallback`` (bool) and ``score`` (a judge's 0-5 score)."""
    out = AccuracySummary()
    for row in rows:
        correct = _field(row, "correct")
        correct = None if correct is None else bool(correct)
        fallback, score = bool(_field(row, "fallback", False)), _field(row, "score")
        qtype = str(_field(row, "question_type") or "unknown")
        out.overall.add(correct, fallback=fallback, score=score)
        out.per_type.setdefault(qtype, Accuracy()).add(correct, fallback=fallback, score=score)
    return out
