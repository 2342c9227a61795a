"""Step 3's LLM roles: the trace-to-rationale converter and the two yes/no judges.

One sample's bad luck never raises: an ``LLMError`` (the backend has already retried with
backoff) becomes ``Conversion(error="llm error: ...")`` or ``Verdict(passed=None, ...)``, and a
reply that says neither yes nor no is ``Verdict(passed=None, reason="unparsable reply")``, so a
run records why a sample failed and moves on. Prompts live in ``aotd.cot.prompts``.
"""

from __future__ import annotations

import re

from aotd.cot.prompts import (
    answer_messages,
    convert_messages,
    grounding_items,
    quality_messages,
)
from aotd.cot.record import Conversion
from aotd.data.records import TraceRecord, Verdict
from aotd.data.text import normalize
from aotd.llm.base import LLMBackend, LLMError, Message, strip_thinking

# --- reply parsing -----------------------------------------------------------------------------
_MARKUP = re.compile(r"[*_`#>\"“”‘’]")
_FIRST = re.compile(r"\s*(yes|no)\b(.*)", re.DOTALL)
_NOT_A_VERDICT = re.compile(r"\s*(?:[/?]|(?:or|and|nor)\b|(?:idea|clue)\b)")  # "yes or no", "yes/no", "no idea"
_LABELLED = re.compile(r"\b(?:answer|verdict|judge?ment|decision|reply)\b[\s:=-]*(?:is\b)?[\s:='-]*"
                       r"(?:simply\s+|clearly\s+)?(yes|no)\b")
_HEDGE = re.compile(r"\b(?:not sure|unsure|uncertain|unclear|no idea|cannot (?:tell|say|determine|decide)|"
                    r"can't (?:tell|say|determine|decide)|(?:don't|do not) know|maybe|perhaps)\b")
_YES_NO = re.compile(r"\b(yes|no)\b")


def parse_yes_no(reply: str) -> bool | None:
    """A judge's verdict: True for yes, False for no, None when the reply does not clearly say.

    After dropping ``<think>`` sections, markdown and quotes, and lower-casing, the first rule
    that applies decides:

    1. the reply starts with "yes" or "no" → that word ("Yes.", "**No**", "Yes, because ..."),
       unless it is not a verdict: "yes or no", "yes and no", "yes/no", "yes?", "no idea";
    2. a labelled verdict ("answer: no", "the answer is yes", "verdict - yes") → that word, if
       all labelled verdicts agree, else None;
    3. a hedge ("not sure", "unclear", "maybe", "cannot tell", ...) → None;
    4. exactly one of the words "yes" / "no" occurs (any number of times) → that word
       ("The steps are clear, so yes."); both or neither → None.

    Only the whole words count: "not", "know", "nope", "yeah" are neither.
    """
    text = _MARKUP.sub(" ", strip_thinking(reply)).lower().strip()
    if not text:
        return None
    first = _FIRST.match(text)
    if first and not _NOT_A_VERDICT.match(first.group(2)):
        return first.group(1) == "yes"
    labelled = set(_LABELLED.findall(text))
    if labelled:
        return labelled == {"yes"} if len(labelled) == 1 else None
    if _HEDGE.search(text):
        return None
    words = set(_YES_NO.findall(text))
    return words == {"yes"} if len(words) == 1 else None


_FENCE = re.compile(r"^\s*(?:```|~~~)[\w+.-]*\s*$", re.MULTILINE)
_PREAMBLE = re.compile(r"^\s*(?:(?:sure|certainly|okay|ok|of course)\b[^\n.!:]{0,40}[.!,]?\s*)?"
                       r"(?:here(?:'s| is)|below is)\b[^\n:]{0,100}:\s*", re.IGNORECASE)
_OPENER = re.compile(r"^\s*(?:sure|certainly|okay|ok|of course)\s*[.!,]\s*(?=\S)", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:natural[- ]language\s+)?(?:rationale|chain[- ]of[- ]thought|reasoning|cot|explanation)"
                    r"\s*:\s*", re.IGNORECASE)
_OUTRO = re.compile(r"\n\s*(?:let me know|i hope|feel free|hope this)\b[^\n]*\s*$", re.IGNORECASE)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"\*\*|__")
_ENDS_SENTENCE = re.compile(r"[.!?\"'”’)\]]\s*$")


def clean_rationale(reply: str) -> str:
    """The rationale in a converter reply: no ``<think>``, fences, "Here is the rationale:"
    preamble, "Rationale:" label, sign-off, list markers or emphasis; whitespace collapsed."""
    text = _FENCE.sub("", strip_thinking(reply)).strip()
    text = _OPENER.sub("", _PREAMBLE.sub("", text, count=1), count=1)
    text = _LABEL.sub("", _EMPHASIS.sub("", text), count=1)
    text = _LIST_MARK.sub("", _OUTRO.sub("", text))
    return " ".join(text.split())


# --- grounding ---------------------------------------------------------------------------------
_NUM = r"(-?\d+(?:\.\d+)?)"
_BOX = re.compile(rf"[\[(]\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*[\])]")
_SPAN = re.compile(r"\bframes?\s+(\d+)\s*(?:to|-|–|—|through|until|and)\s*(?:frame\s+)?(\d+)\b", re.IGNORECASE)
_FRAME = re.compile(r"\bframe\s+(\d+)\b", re.IGNORECASE)
_NEAR = 30  # characters between a box and the "frame N" that says where it is


def grounding_kept(trace: TraceRecord, rationale: str) -> float:
    """The fraction of the trace's boxes and windows (``prompts.grounding_items``) the rationale keeps.

    A window (a, b) is kept when the text says "frame(s) a to/-/and/through (frame) b" (or
    "frame a" when a == b); a box when its four rounded coordinates appear as one bracketed
    group with "frame N" of its frame within a few words before or after. 1.0 when the trace
    has no box or window: nothing could be dropped.
    """
    items = grounding_items(trace)
    if not items:
        return 1.0
    spans = {(int(a), int(b)) for a, b in _SPAN.findall(rationale)}
    frames = {int(f) for f in _FRAME.findall(rationale)}
    boxes: set[tuple[int, ...]] = set()
    for m in _BOX.finditer(rationale):
        coords = tuple(round(float(v)) for v in m.groups())
        after = _FRAME.search(rationale[m.end():m.end() + _NEAR])
        before = _FRAME.findall(rationale[max(0, m.start() - _NEAR):m.start()])
        for f in ([after.group(1)] if after else []) + before[-1:]:
            boxes.add((int(f), *coords))
    kept = sum(1 for kind, nums in items
               if (nums in boxes if kind == "box" else
                   (nums[0], nums[1]) in spans or nums[0] == nums[1] and nums[0] in frames))
    return kept / len(items)


# --- the LLM roles ---------------------------------------------------------------------------
def _ask(backend: LLMBackend, messages: list[Message], temperature: float, max_tokens: int) -> tuple[str | None, str]:
    """(reply, "") or (None, the error): one sample's LLM failure is a result, not an exception."""
    try:
        return backend.complete(messages, temperature=temperature, max_tokens=max_tokens), ""
    except LLMError as exc:
        return None, f"llm error: {exc}"


class LLMConverter:
    """The paper's conversion: instruction + our few-shot examples + this trace → a rationale.

    A reply that ends mid-sentence (cut off by ``max_tokens``; 32 boxes take ~500 tokens) is
    rejected as ``truncated reply``: it has lost grounding and the conclusion.
    """

    def __init__(self, backend: LLMBackend, *, max_tokens: int = 512, temperature: float = 0.0) -> None:
        self.backend, self.max_tokens, self.temperature = backend, max_tokens, temperature
        self.name = f"llm:{backend.model}"

    def messages(self, trace: TraceRecord) -> list[Message]:
        return convert_messages(trace)

    def convert(self, trace: TraceRecord) -> Conversion:
        if trace.failure or not (trace.sandbox or {}).get("calls"):
            return Conversion(method=self.name, error="no successful trace to convert")
        reply, error = _ask(self.backend, self.messages(trace), self.temperature, self.max_tokens)
        if reply is None:
            return Conversion(method=self.name, error=error)
        rationale = clean_rationale(reply)
        if not rationale:
            return Conversion(method=self.name, reply=reply, error="empty reply")
        if not _ENDS_SENTENCE.search(rationale) and not rationale.endswith(str(trace.prediction).strip()):
            return Conversion(method=self.name, reply=reply, error="truncated reply: it ends mid-sentence")
        return Conversion(rationale=rationale, method=self.name, reply=reply)


class _YesNoJudge:
    def __init__(self, backend: LLMBackend, *, max_tokens: int = 64, temperature: float = 0.0) -> None:
        self.backend, self.max_tokens, self.temperature = backend, max_tokens, temperature
        self.name = f"llm:{backend.model}"

    def _verdict(self, messages: list[Message]) -> Verdict:
        reply, error = _ask(self.backend, messages, self.temperature, self.max_tokens)
        if reply is None:
            return Verdict(passed=None, method=self.name, reason=error)
        passed = parse_yes_no(reply)
        reason = "unparsable reply" if passed is None else None if passed else "judged No"
        return Verdict(passed=passed, method=self.name, reason=reason, reply=reply)


class LLMQualityJudge(_YesNoJudge):
    """Stage (ii): the paper's yes/no question — step by step, and the key information to answer?"""

    def judge(self, question: str, choices: list[str], answer: str, rationale: str) -> Verdict:
        return self._verdict(quality_messages(question, choices, answer, rationale))


class LLMAnswerJudge(_YesNoJudge):
    """Stage (i) for open-ended questions: does the prediction mean the label, format aside?

    Answers equal after ``normalize`` pass without a call (method "normalized"): no judge could
    disagree, and it saves a request per easy sample. An empty prediction fails without a call.
    """

    def check(self, question: str, label: str, prediction: str) -> Verdict:
        if not prediction.strip():
            return Verdict(passed=False, method=self.name, reason="empty prediction")
        if normalize(prediction) and normalize(prediction) == normalize(label):
            return Verdict(passed=True, method="normalized")
        return self._verdict(answer_messages(question, label, prediction))
