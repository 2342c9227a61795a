"""Candidates per sub-task, by name, in one typed table, and the toolset a config asks for.

``CANDIDATES`` maps (sub-task, name) to a ``Candidate``: its kind and how it is built for a
config. Two kinds:

* embedded ones read the rendered world's pixels (``color``, ``cnn``, ``motion``, ``clip-cnn``,
  ``presence``, ``visual``); the embedded package registers them (``aotd.embedded.candidates``,
  imported by whatever builds a toolset: the agent, step 1, ``aotd check-config``);
* transformers ones are the paper's models (``aotd.tools.hf``): ``owl-vit``, ``owlv2`` and
  ``grounding-dino`` detect, ``clip-window`` and ``video-llm`` ground, ``xclip`` and ``video-llm``
  recognise, ``video-llm`` answers. ``tools.models.<name>`` says where each one's weights are
  (default: ``config.DEFAULT_TOOL_MODELS``); nothing loads before the first call, and one
  Video-LLM serves every role it is named for.

Step 1 scores the names in ``tools.candidates`` (default: the embedded ones); the agent builds
its ``ToolAPI`` from the names its config chose. A new tool is one ``register`` call. Listings
put the embedded candidates first, whatever order the modules registering them were imported in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aotd.config import ToolChoice
from aotd.errors import AotdError


@dataclass(frozen=True)
class Candidate:
    """A model that can serve a sub-task: what kind it is and how it is built for a config.

    ``build`` takes the run's ``ToolChoice`` (its ``models`` and ``labels`` for transformers
    ones; a QA candidate reads the ``detection`` and ``recognition`` it answers through)."""

    subtask: Literal["detection", "grounding", "recognition", "qa"]
    name: str
    kind: Literal["embedded", "transformers"]
    build: Callable[[ToolChoice], Any]


CANDIDATES: dict[tuple[str, str], Candidate] = {}  # (sub-task, name) -> candidate, in the order step 1 lists them


def register(candidate: Candidate) -> None:
    """Add a candidate to the table (a name is registered once per sub-task)."""
    key = (candidate.subtask, candidate.name)
    if key in CANDIDATES:
        raise AotdError(f"{candidate.subtask} candidate {candidate.name!r} is registered twice")
    CANDIDATES[key] = candidate


# --- transformers: the paper's models, built per (role, settings), one model per checkpoint -----
for _sub, _names in (("detection", ("owl-vit", "owlv2", "grounding-dino")), ("grounding", ("clip-window", "video-llm")),
                     ("recognition", ("xclip", "video-llm")), ("qa", ("video-llm",))):
    for _name in _names:
        register(Candidate(_sub, _name, "transformers", lambda c, s=_sub, n=_name: _hf(s, n, c)))  # type: ignore[arg-type]


def candidates(subtask: str, kind: str | None = None) -> tuple[str, ...]:
    """Every name ``subtask`` accepts (of one ``kind`` when given), in the table's order."""
    ordered = sorted(CANDIDATES.values(), key=lambda c: c.kind != "embedded")  # stable: registration order within
    return tuple(c.name for c in ordered if c.subtask == subtask and kind in (None, c.kind))


def embedded(subtask: str) -> tuple[str, ...]:
    """The embedded candidates of ``subtask``: step 1's default."""
    return candidates(subtask, "embedded")


def is_transformers(subtask: str, name: str) -> bool:
    candidate = CANDIDATES.get((subtask, name))
    return candidate is not None and candidate.kind == "transformers"


def transformers_names() -> tuple[str, ...]:
    """The transformers candidates' names, each once (``tools.models`` keys)."""
    return tuple(dict.fromkeys(c.name for c in CANDIDATES.values() if c.kind == "transformers"))


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


# --- by sub-task -----------------------------------------------------------------------------
def tool(subtask: str, name: str, choice: ToolChoice | None = None) -> Any:
    """Candidate ``name`` of ``subtask``, built for ``choice`` (default settings when None)."""
    candidate = CANDIDATES.get((subtask, name))
    if candidate is None:
        raise _unknown(subtask, name)
    return candidate.build(choice or ToolChoice())


def detector(name: str, choice: ToolChoice | None = None) -> Any:
    return tool("detection", name, choice)


def grounder(name: str, choice: ToolChoice | None = None) -> Any:
    return tool("grounding", name, choice)


def recognizer(name: str, choice: ToolChoice | None = None) -> Any:
    return tool("recognition", name, choice)


def qa_model(name: str, *, detection: str, recognition: str, choice: ToolChoice | None = None) -> Any:
    """QA candidate ``name``, answering through the ``detection`` and ``recognition`` candidates."""
    return tool("qa", name, (choice or ToolChoice()).model_copy(update={"detection": detection,
                                                                        "recognition": recognition}))


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
    known = transformers_names()
    for key in choice.models:
        if key not in known:
            raise AotdError(f"tools.models.{key}: not a transformers candidate; use one of {', '.join(known)}")


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
