"""Answer metrics of step 4: open-ended judging, accuracy tables.

Multiple choice is the paper's top-1 accuracy: a model's reply is read as one option by
``models.options.parse_option`` (a reply naming none is a flagged, seeded pick). Open-ended answers are scored as the paper does
with GPT-3.5: a judge LLM says whether the prediction is correct (Acc.) and gives a 0-5 score
(Score), with Video-ChatGPT's prompt (``LLMScoreJudge``); ``normalized_match`` is the
LLM-free check. ``accuracy_summary`` aggregates rows overall and per question type.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aotd.cot.llm import parse_yes_no
from aotd.data.text import normalize
from aotd.llm.base import LLMBackend, LLMError, Message, strip_thinking


# --- open-ended --------------------------------------------------------------------------------
def normalized_match(prediction: str, label: str) -> bool:
    """Equal after ``data.text.normalize`` (case, punctuation, articles, verb forms), and not empty."""
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
