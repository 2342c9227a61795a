"""The tool API a planner's program calls. Its docstrings are the documentation T.

``ToolAPI`` binds one chosen candidate per visual sub-task (step 1 picks them) behind fixed
function names, checks arguments (a bad one raises ``ToolInputError`` into the trace), and
hands the sandbox plain callables via ``functions()``. ``documentation()`` renders the
signatures and docstrings the planner reads; ``aotd tools doc`` prints it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from aotd.data.text import tokens
from aotd.tools.base import ActionRecognizer, Detector, QuestionAnswerer, TemporalGrounder
from aotd.tools.clip import Clip, ToolInputError
from aotd.tools.types import Action, Box, Window

TOOL_NAMES = ("trim", "detect", "find_object", "exists", "find_action", "recognize_actions", "query", "choose")


class ToolAPI:
    """The functions a program may call; every one takes frame ids in 0..31."""

    def __init__(self, detector: Detector, grounder: TemporalGrounder, recognizer: ActionRecognizer,
                 qa: QuestionAnswerer) -> None:
        self.detector, self.grounder, self.recognizer, self.qa = detector, grounder, recognizer, qa

    # --- the documented tools ----------------------------------------------------------
    def trim(self, video: Clip, start: int | None = None, end: int | None = None) -> Clip:
        """Keep the frames with ids from ``start`` to ``end`` (inclusive); ids keep their numbers.

        >>> part = trim(video, 12, 20)        # frames 12..20 of 0..31
        >>> after = trim(video, window.end)   # from the end of a found window to the last frame
        """
        return _clip(video).trim(start, end)

    def detect(self, video: Clip, name: str) -> list[Box]:
        """Boxes of the object ``name`` in the clip's frames, at most one per frame.

        Each box has ``frame``, ``x1, y1, x2, y2`` (pixels), ``label`` and ``score``.
        >>> boxes = detect(video, "cup/glass/bottle")
        >>> first = boxes[0].frame if boxes else None
        """
        return self.detector.detect(_clip(video), _text(name, "name"))

    def find_object(self, video: Clip, name: str) -> list[int]:
        """Frame ids of the clip in which the object ``name`` is visible (empty if never).

        >>> frames = find_object(video, "book")
        """
        return sorted({b.frame for b in self.detect(video, name)})

    def exists(self, video: Clip, name: str) -> bool:
        """Whether the object ``name`` is visible anywhere in the clip.

        >>> if exists(video, "refrigerator"): ...
        """
        return bool(self.find_object(video, name))

    def find_action(self, video: Clip, action: str) -> Window | None:
        """Where an action happens: a ``Window`` with ``start``, ``end`` frame ids and ``score``, or None.

        ``action`` is a short phrase: a verb and an object.
        >>> w = find_action(video, "take the book")
        >>> later = trim(video, w.end) if w else video
        """
        return self.grounder.ground(_clip(video), _text(action, "action"))

    def recognize_actions(self, video: Clip, obj: str | None = None) -> list[Action]:
        """Actions in the clip, most likely first; only actions on ``obj`` when it is given.

        Each has ``verb``, ``obj``, ``text`` ("take book"), ``score`` and ``window`` (or None).
        >>> acts = recognize_actions(trim(video, 0, 15))
        >>> verb = recognize_actions(video, "cup/glass/bottle")[0].verb
        """
        return self.recognizer.recognize(_clip(video), None if obj is None else _text(obj, "obj"))

    def query(self, video: Clip, question: str, choices: list[str] | None = None) -> str:
        """Answer a simple, one-step question about the clip; one of ``choices`` when given.

        >>> query(trim(video, 10, 20), "What is the person holding?")
        """
        if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
            raise ToolInputError("query choices must be a list of strings")
        return self.qa.answer(_clip(video), _text(question, "question"), choices)

    def choose(self, choices: list[str], evidence: Any) -> str:
        """The choice that best matches what the program found (an object name, an Action, text).

        >>> return choose(choices, acts[0])          # e.g. "Took the book."
        >>> return choose(choices, "refrigerator")   # e.g. "The refrigerator."
        """
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
            raise ToolInputError("choose needs the list of choice strings")
        return best_choice(choices, evidence)

    # --- plumbing ------------------------------------------------------------------------
    def functions(self) -> dict[str, Callable[..., Any]]:
        return {name: getattr(self, name) for name in TOOL_NAMES}

    def provenance(self) -> dict[str, str]:
        return {"detection": self.detector.name, "grounding": self.grounder.name,
                "recognition": self.recognizer.name, "qa": self.qa.name}


def documentation() -> str:
    """The tool documentation the planner reads: signature, then docstring, per tool."""
    parts = ["The program receives `video` (the 32 sampled frames, ids 0..31), `question` and `choices`,",
             "and must return one of `choices`. Available functions:", ""]
    for name in TOOL_NAMES:
        fn = getattr(ToolAPI, name)
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.name != "self"]
        shown = inspect.Signature(params, return_annotation=sig.return_annotation)
        doc = inspect.getdoc(fn) or ""
        parts.append(f"def {name}{str(shown).replace(chr(39), '')}:")
        parts.extend(f"    {line}" if line else "" for line in doc.splitlines())
        parts.append("")
    return "\n".join(parts)


def _clip(video: Any) -> Clip:
    if not isinstance(video, Clip):
        raise ToolInputError(f"expected the video (or a trimmed part of it), got {type(video).__name__}")
    return video


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ToolInputError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


# --- choosing an option from evidence ------------------------------------------------------
def _evidence_text(evidence: Any) -> str:
    if isinstance(evidence, Action):
        return f"{evidence.verb} {evidence.obj}"
    if isinstance(evidence, (list, tuple)):
        return " ".join(_evidence_text(e) for e in evidence[:1])
    if isinstance(evidence, Box):
        return evidence.label
    return str(evidence)


def best_choice(choices: list[str], evidence: Any) -> str:
    """Highest token overlap (F1) with the evidence; ties go to the earlier choice."""
    ev = tokens(_evidence_text(evidence))

    def f1(choice: str) -> float:
        ch = tokens(choice)
        common = len(ev & ch)
        if not common:
            return 0.0
        p, r = common / len(ch), common / len(ev)
        return 2 * p * r / (p + r)

    scores = [f1(c) for c in choices]
    return choices[max(range(len(choices)), key=lambda i: (scores[i], -i))]
