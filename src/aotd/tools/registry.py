"""Candidates per sub-task, by name, and the toolset a config asks for.

Step 1 scores every candidate listed here; the agent builds its ``ToolAPI`` from the names in
its config. Trained candidates load from the user cache and train themselves when missing,
so construction is lazy and each model is loaded once per process (grounding and
recognition share the ``clip-cnn`` instance).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aotd.config import ToolChoice
from aotd.errors import AotdError
from aotd.tools.api import ToolAPI


def _color() -> Any:
    from aotd.tools.embedded.color_detector import ColorDetector

    return ColorDetector()


def _cnn() -> Any:
    from aotd.tools.embedded.cnn_detector import CNNDetector

    return CNNDetector.load()


def _motion() -> Any:
    from aotd.tools.embedded.motion import MotionRecognizer

    return MotionRecognizer()


def _clip_cnn() -> Any:
    from aotd.tools.embedded.clip_classifier import ClipClassifier

    return ClipClassifier.load()


DETECTORS: dict[str, Callable[[], Any]] = {"color": _color, "cnn": _cnn}
ACTION_MODELS: dict[str, Callable[[], Any]] = {"motion": _motion, "clip-cnn": _clip_cnn}
QA_MODELS = ("presence", "visual")
CANDIDATES = {"detection": tuple(DETECTORS), "grounding": tuple(ACTION_MODELS),
              "recognition": tuple(ACTION_MODELS), "qa": QA_MODELS}


@cache
def detector(name: str) -> Any:
    return _pick(DETECTORS, name, "detection")()


@cache
def action_model(name: str) -> Any:
    return _pick(ACTION_MODELS, name, "grounding/recognition")()


def qa_model(name: str, *, detection: str, recognition: str) -> Any:
    from aotd.tools.embedded.qa import PresenceQA, VisualQA

    if name == "presence":
        return PresenceQA(detector(detection))
    if name == "visual":
        return VisualQA(detector(detection), action_model(recognition))
    raise AotdError(f"unknown qa candidate {name!r}; known: {', '.join(QA_MODELS)}")


def build_toolset(choice: ToolChoice) -> ToolAPI:
    """The pixel-reading toolset a config names (oracles are step 1's business, not the agent's)."""
    for sub, name in choice.model_dump().items():
        if name == "oracle":
            raise AotdError(f"tools.{sub}: the oracle reads annotations and may not build CoTs; pick one of "
                            f"{', '.join(CANDIDATES[sub])}")
    return ToolAPI(
        detector(choice.detection),
        action_model(choice.grounding),
        action_model(choice.recognition),
        qa_model(choice.qa, detection=choice.detection, recognition=choice.recognition),
    )


def _pick(table: dict[str, Callable[[], Any]], name: str, what: str) -> Callable[[], Any]:
    if name not in table:
        raise AotdError(f"unknown {what} candidate {name!r}; known: {', '.join(table)}")
    return table[name]
