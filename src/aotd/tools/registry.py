"""Candidates per sub-task, by name, and the toolset a config asks for.

Two kinds of candidate:

* embedded ones read the rendered world's pixels (``color``, ``cnn``, ``motion``, ``clip-cnn``,
  ``presence``, ``visual``). Trained ones load from the user cache and train themselves when
  missing, so construction is lazy and each model is loaded once per process (grounding and
  recognition share the ``clip-cnn`` instance);
* transformers ones are the paper's models (``aotd.tools.hf``): ``owl-vit``, ``owlv2`` and
  ``grounding-dino`` detect, ``clip-window`` and ``video-llm`` ground, ``xclip`` and ``video-llm``
  recognise, ``video-llm`` answers. ``tools.models.<name>`` says where each one's weights are
  (default: ``config.DEFAULT_TOOL_MODELS``); nothing loads before the first call, and one
  Video-LLM serves every role it is named for.

Step 1 scores the names in ``tools.candidates`` (default: the embedded ones); the agent builds
its ``ToolAPI`` from the names its config chose.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
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


# embedded candidates (step 1's default candidates; tests narrow these tables)
DETECTORS: dict[str, Callable[[], Any]] = {"color": _color, "cnn": _cnn}
ACTION_MODELS: dict[str, Callable[[], Any]] = {"motion": _motion, "clip-cnn": _clip_cnn}
QA_MODELS = ("presence", "visual")

# transformers candidates, per sub-task
HF_DETECTORS = ("owl-vit", "owlv2", "grounding-dino")
HF_GROUNDERS = ("clip-window", "video-llm")
HF_RECOGNIZERS = ("xclip", "video-llm")
HF_QA = ("video-llm",)
HF_CANDIDATES = ("owl-vit", "owlv2", "grounding-dino", "xclip", "clip-window", "video-llm")
HF_SUBTASKS = {"detection": HF_DETECTORS, "grounding": HF_GROUNDERS, "recognition": HF_RECOGNIZERS, "qa": HF_QA}

def embedded(subtask: str) -> tuple[str, ...]:
    """The embedded candidates of ``subtask`` (read when called, so narrowed tables count)."""
    table = {"detection": DETECTORS, "grounding": ACTION_MODELS, "recognition": ACTION_MODELS}.get(subtask, QA_MODELS)
    return tuple(table)


def candidates(subtask: str) -> tuple[str, ...]:
    """Every name ``subtask`` accepts."""
    return (*embedded(subtask), *HF_SUBTASKS[subtask])


def step1_candidates(subtask: str, choice: ToolChoice | None = None) -> tuple[str, ...]:
    """What ``aotd select`` scores for ``subtask``: ``tools.candidates.<subtask>``, else the embedded ones."""
    listed = getattr(choice.candidates, subtask) if choice is not None else None
    if listed is None:
        return embedded(subtask)
    known = candidates(subtask)
    for name in listed:
        if name not in known:
            raise AotdError(f"tools.candidates.{subtask}: unknown {subtask} candidate {name!r}; "
                            f"known: {', '.join(known)}")
    if not listed:
        raise AotdError(f"tools.candidates.{subtask}: the list is empty; name at least one of {', '.join(known)}")
    return tuple(listed)


# --- embedded ------------------------------------------------------------------------------
@cache
def _embedded_detector(name: str) -> Any:
    return DETECTORS[name]()


@cache
def action_model(name: str) -> Any:
    """An embedded recognizer-and-grounder (``motion``, ``clip-cnn``)."""
    return _pick(ACTION_MODELS, name, "grounding/recognition")()


def forget_embedded() -> None:
    """Drop the embedded models loaded so far, with the per-frame outputs they keep: the next
    call loads them afresh (a benchmark's runs must not share what an earlier one computed)."""
    _embedded_detector.cache_clear()
    action_model.cache_clear()


# --- by sub-task -----------------------------------------------------------------------------
def _tool(subtask: str, name: str, choice: ToolChoice | None) -> Any:
    """The candidate ``name`` of a perception sub-task: embedded (cached), or transformers per ``choice``."""
    if name in embedded(subtask):
        return _embedded_detector(name) if subtask == "detection" else action_model(name)
    if name in HF_SUBTASKS[subtask]:
        return _hf(subtask, name, choice or ToolChoice())
    raise _unknown(subtask, name)


def detector(name: str, choice: ToolChoice | None = None) -> Any:
    return _tool("detection", name, choice)


def grounder(name: str, choice: ToolChoice | None = None) -> Any:
    return _tool("grounding", name, choice)


def recognizer(name: str, choice: ToolChoice | None = None) -> Any:
    return _tool("recognition", name, choice)


def qa_model(name: str, *, detection: str, recognition: str, choice: ToolChoice | None = None) -> Any:
    from aotd.tools.embedded.qa import PresenceQA, VisualQA

    if name == "presence":
        return PresenceQA(detector(detection, choice))
    if name == "visual":
        return VisualQA(detector(detection, choice), recognizer(recognition, choice))
    if name in HF_QA:
        return _hf("qa", name, choice or ToolChoice())
    raise _unknown("qa", name)


def check_choice(choice: ToolChoice) -> None:
    """Every name is a known candidate and every ``tools.models`` key a transformers one (no loading)."""
    for sub in ToolChoice.SUBTASKS:
        name = getattr(choice, sub)
        if name == "oracle":
            raise AotdError(f"tools.{sub}: the oracle reads annotations and may not build CoTs; pick one of "
                            f"{', '.join(candidates(sub))}")
        if name not in candidates(sub):
            raise _unknown(sub, name)
    check_models(choice)


def check_models(choice: ToolChoice) -> None:
    """Every ``tools.models`` key names a transformers candidate (a misspelt one fails before any work)."""
    for key in choice.models:
        if key not in HF_CANDIDATES:
            raise AotdError(f"tools.models.{key}: not a transformers candidate; use one of {', '.join(HF_CANDIDATES)}")


def build_toolset(choice: ToolChoice) -> ToolAPI:
    """The pixel-reading toolset a config names (oracles are step 1's business, not the agent's)."""
    check_choice(choice)
    return ToolAPI(
        detector(choice.detection, choice),
        grounder(choice.grounding, choice),
        recognizer(choice.recognition, choice),
        qa_model(choice.qa, detection=choice.detection, recognition=choice.recognition, choice=choice),
    )


def _pick(table: dict[str, Callable[[], Any]], name: str, what: str) -> Callable[[], Any]:
    if name not in table:
        raise AotdError(f"unknown {what} candidate {name!r}; known: {', '.join(table)}")
    return table[name]


def _unknown(subtask: str, name: str) -> AotdError:
    return AotdError(f"tools.{subtask}: unknown {subtask} candidate {name!r}; known: {', '.join(candidates(subtask))}")


# --- transformers candidates -----------------------------------------------------------------
_HF_TOOLS: dict[str, Any] = {}


def _hf(subtask: str, name: str, choice: ToolChoice) -> Any:
    """The adapter of ``name`` in its ``subtask`` role; one per (role, settings) per process, models shared."""
    spec = choice.model_spec(name)
    labels = choice.labels if subtask == "recognition" else None
    key = f"{subtask}|{name}|{spec.model_dump_json()}|{labels}"
    if key not in _HF_TOOLS:
        _HF_TOOLS[key] = _build_hf(subtask, name, spec, labels)
    return _HF_TOOLS[key]


def _build_hf(subtask: str, name: str, spec: Any, labels: str | None) -> Any:
    from aotd.tools.hf.loading import ModelRef

    ref = ModelRef.of(spec, name)
    ref.check_local()
    threshold = spec.threshold
    if name in ("owl-vit", "owlv2"):
        from aotd.tools.hf.detect import OwlDetector

        return OwlDetector.from_ref(ref, kind=name, threshold=threshold, batch_size=spec.batch_size, name=name)
    if name == "grounding-dino":
        from aotd.tools.hf.detect import GroundingDinoDetector

        return GroundingDinoDetector.from_ref(ref, threshold=threshold, batch_size=spec.batch_size, name=name)
    if name == "clip-window":
        from aotd.tools.hf.clip_window import ClipWindowGrounder

        return ClipWindowGrounder.from_ref(ref, threshold=threshold, batch_size=spec.batch_size, name=name)
    if name == "xclip":
        from aotd.tools.hf.xclip import XClipRecognizer

        return XClipRecognizer.from_ref(ref, labels=_labels(labels, name), name=name)  # one pass over all labels
    from aotd.tools.hf.video_llm import VideoLLM, VideoLLMGrounder, VideoLLMQA, VideoLLMRecognizer

    llm = VideoLLM.from_ref(ref)  # the process's one instance of this checkpoint: every role shares it
    if subtask == "recognition":
        return VideoLLMRecognizer(llm, labels=_labels(labels, name), name=name)
    if subtask == "grounding":
        return VideoLLMGrounder(llm, name=name)
    return VideoLLMQA(llm, name=name)


@cache
def _load_labels(path: str) -> tuple[Any, ...]:
    from aotd.tools.hf.labels import load_labels

    try:
        return tuple(load_labels(Path(path)))
    except AotdError as exc:
        raise AotdError(f"tools.labels: {exc}") from None


def _labels(path: str | None, name: str) -> list[Any]:
    from aotd.tools.hf.labels import require_labels

    if path is None:
        return require_labels(None, name)
    return list(_load_labels(path))
