"""The embedded world's tools as step 1 candidates, in the tools' one table (``tools.registry``).

Importing this module registers them: ``color`` and ``cnn`` detect, ``motion`` and ``clip-cnn``
ground and recognise, ``presence`` and ``visual`` answer. Trained ones load their shipped
weights on first use, once per process; grounding and recognition share one action model.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aotd.config import ToolChoice
from aotd.tools.registry import Candidate, detector, recognizer, register


@cache
def _detector(name: str) -> Any:
    if name == "color":
        from aotd.embedded.tools.color_detector import ColorDetector

        return ColorDetector()
    from aotd.embedded.tools.cnn_detector import CNNDetector

    return CNNDetector.load()


@cache
def _action_model(name: str) -> Any:
    """An embedded recognizer-and-grounder (``motion``, ``clip-cnn``)."""
    if name == "motion":
        from aotd.embedded.tools.motion import MotionRecognizer

        return MotionRecognizer()
    from aotd.embedded.tools.clip_classifier import ClipClassifier

    return ClipClassifier.load()


def forget_embedded() -> None:
    """Drop the embedded models loaded so far, with the per-frame outputs they keep: the next
    call loads them afresh (a benchmark's runs must not share what an earlier one computed)."""
    _detector.cache_clear()
    _action_model.cache_clear()


def _qa(name: str, choice: ToolChoice) -> Any:
    from aotd.embedded.tools.qa import PresenceQA, VisualQA

    seen = detector(choice.detection, choice)
    return PresenceQA(seen) if name == "presence" else VisualQA(seen, recognizer(choice.recognition, choice))


for _name in ("color", "cnn"):
    register(Candidate("detection", _name, "embedded", lambda c, n=_name: _detector(n)))
for _sub in ("grounding", "recognition"):
    for _name in ("motion", "clip-cnn"):
        register(Candidate(_sub, _name, "embedded", lambda c, n=_name: _action_model(n)))  # type: ignore[arg-type]
for _name in ("presence", "visual"):
    register(Candidate("qa", _name, "embedded", lambda c, n=_name: _qa(n, c)))
