"""A Video-LLM (LLaVA-NeXT-Video-7B-DPO in the paper) as recognizer, grounder and one-hop QA.

One ``VideoLLM`` wraps one ``HFStudent`` (``aotd.models.hf``: the same chat layout,
video preprocessing and greedy decoding the distilled students use) and serves all three roles,
so the 7B weights load once. The model reads ``num_frames`` frames (32): a clip of another
length is resampled to that many, one frame from the middle of each equal segment.

Each role prompts in words and parses the reply back into the tool's type:

* recognition lists the (object-filtered) labels numbered 1..N and asks for a number; the
  reply is read as a number in range, else as a label's text (``models.options.parse_option``),
  else a pick seeded by the clip (score 0.0, so a caller can tell). One action is returned,
  with the clip as its window: a generative model names what happens, not when or how likely;
* grounding tells the model the clip's frame numbers and asks for "start-end"; the first two
  integers of the reply, ordered and clamped to the clip, are the window (score 1.0); one
  integer gives a one-frame window (score 0.5); no integer gives None;
* QA uses the students' own prompt (``models.options.answer_prompt``): the reply is read as
  one of the choices (a letter, an option's text, else a pick seeded by the question); without
  choices it is the reply's first line.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from aotd.tools.clip import Clip
from aotd.tools.hf.labels import ActionLabel, for_object, labels_digest, require_labels
from aotd.tools.hf.loading import LazyModel, ModelRef, built_version, settings_version, shared
from aotd.tools.hf.prep import sample_indices
from aotd.tools.types import Action, Window

RECOGNIZE_PROMPT = ("Which one of these actions does the person do in the video?\n{options}\n"
                    "Answer with the number of the action.")
GROUND_PROMPT = ("The video's frames are numbered {first} to {last}. In which frames does this happen: "
                 "\"{query}\"? Answer with the first and the last frame number, as \"start-end\".")
PROMPTS_VERSION = "1"  # bump when a prompt or a parser changes: cached outputs then miss


class VideoLLM:
    """One Video-LLM behind the three roles; ``ask`` is a greedy reply to a prompt about a clip."""

    family = "video-llm"

    def __init__(self, student: Any, *, max_new_tokens: int = 32) -> None:
        if isinstance(student, LazyModel):
            self._lazy = student
        else:
            self._lazy = LazyModel.ready(student, None, version=lambda: built_version(student.base_model))
        self.max_new_tokens = int(max_new_tokens)

    @classmethod
    def from_ref(cls, ref: ModelRef, **kwargs: Any) -> VideoLLM:
        return cls(shared(cls.family, ref, _load_student), **kwargs)

    @classmethod
    def from_pretrained(cls, model: str, *, device: str = "auto", dtype: str = "auto", **kwargs: Any) -> VideoLLM:
        """Lazy: the checkpoint (a hub id or a folder, e.g. one ``HFStudent.save`` wrote) loads on first use."""
        return cls.from_ref(ModelRef(model, device, dtype), **kwargs)

    @property
    def student(self) -> Any:
        return self._lazy.get()[0]

    @property
    def loaded(self) -> bool:
        return self._lazy.loaded

    @property
    def version(self) -> str:
        return settings_version(self._lazy.version, {"max_new_tokens": self.max_new_tokens,
                                                     "prompts": PROMPTS_VERSION})

    def ask(self, clip: Clip, prompt: str, max_new_tokens: int | None = None) -> str:
        student = self.student
        frames = clip.frames()
        frames = frames[sample_indices(len(frames), student.num_frames)]
        return str(student.generate(np.ascontiguousarray(frames), prompt, max_new_tokens or self.max_new_tokens))

    def __repr__(self) -> str:
        return f"VideoLLM({self._lazy.describe})"


def _load_student(ref: ModelRef) -> tuple[Any, None]:
    from aotd.models.hf import load_hf_student

    student = load_hf_student(ref.model, dtype=ref.torch_dtype(), device=ref.torch_device())
    student.model.requires_grad_(False)  # a tool only generates
    return student, None


def _as_llm(llm: Any) -> VideoLLM:
    return llm if isinstance(llm, VideoLLM) else VideoLLM(llm)


class _Role:
    role = ""

    def __init__(self, llm: VideoLLM | Any, *, name: str = "video-llm") -> None:
        self.llm = _as_llm(llm)  # a VideoLLM, or an HFStudent to wrap
        self.name = name
        lazy = getattr(self.llm, "_lazy", None)
        self.source = lazy.describe if lazy is not None else type(self.llm).__name__  # for cache fingerprints

    def settings(self) -> dict[str, Any]:
        return {}

    @property
    def version(self) -> str:
        return settings_version(self.llm.version, {"role": self.role, **self.settings()})

    @property
    def loaded(self) -> bool:
        return self.llm.loaded

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.llm!r})"


# --- recognition ---------------------------------------------------------------------------
def recognition_prompt(labels: list[ActionLabel]) -> str:
    return RECOGNIZE_PROMPT.format(options="\n".join(f"{i}. {lab.text}" for i, lab in enumerate(labels, 1)))


def parse_label(reply: str, labels: list[ActionLabel], *, seed: str) -> tuple[int, bool]:
    """(index into ``labels``, parsed): a number 1..N, else a label's text, else a seeded pick (parsed False)."""
    from aotd.models.options import parse_option

    for number in re.findall(r"\d+", reply):
        if 1 <= int(number) <= len(labels):
            return int(number) - 1, True
    parsed = parse_option(reply, [lab.text for lab in labels], rng_seed=seed)
    return parsed.index, not parsed.fallback


class VideoLLMRecognizer(_Role):
    role = "recognition"

    def __init__(self, llm: VideoLLM | Any, *, labels: list[ActionLabel], name: str = "video-llm") -> None:
        super().__init__(llm, name=name)
        self.labels = require_labels(labels, name)

    def settings(self) -> dict[str, Any]:
        return {"labels": labels_digest(self.labels)}

    def recognize(self, clip: Clip, obj: str | None = None) -> list[Action]:
        labels = for_object(self.labels, obj)
        if not labels:
            return []
        if len(labels) == 1:
            index, parsed = 0, True
        else:
            reply = self.llm.ask(clip, recognition_prompt(labels))
            index, parsed = parse_label(reply, labels, seed=f"{clip.video_id}:{clip.first}-{clip.last}:{obj}")
        label, score = labels[index], 1.0 if parsed else 0.0
        return [Action(label.verb, label.obj, score, Window(clip.first, clip.last, score))]


# --- grounding -----------------------------------------------------------------------------
def parse_window(reply: str, ids: tuple[int, ...]) -> Window | None:
    """The first two integers of ``reply`` as a window of the clip's ``ids`` (see the module docstring)."""
    numbers = [int(n) for n in re.findall(r"\d+", reply)[:2]]
    if not numbers:
        return None
    first, last = ids[0], ids[-1]
    start, end = (min(numbers), max(numbers)) if len(numbers) == 2 else (numbers[0], numbers[0])
    start, end = max(first, min(last, start)), max(first, min(last, end))
    start = min((i for i in ids if i >= start), default=last)  # the clip's own ids (a trimmed clip has a gap-free run)
    end = max((i for i in ids if i <= end), default=first)
    start = min(start, end)
    return Window(start, end, 1.0 if len(numbers) == 2 else 0.5)


class VideoLLMGrounder(_Role):
    role = "grounding"

    def settings(self) -> dict[str, Any]:
        return {"prompt": GROUND_PROMPT}

    def ground(self, clip: Clip, query: str) -> Window | None:
        reply = self.llm.ask(clip, GROUND_PROMPT.format(first=clip.first, last=clip.last, query=query.strip()))
        return parse_window(reply, clip.ids)


# --- one-hop QA ----------------------------------------------------------------------------
class VideoLLMQA(_Role):
    role = "qa"

    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        from aotd.models.options import answer_prompt, parse_option

        reply = self.llm.ask(clip, answer_prompt(question, list(choices or [])))
        if not choices:
            return (reply.strip().splitlines() or [""])[0].strip()
        return choices[parse_option(reply, list(choices), rng_seed=f"{clip.video_id}:{question}").index]
