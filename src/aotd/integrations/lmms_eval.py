"""aotd's students as an lmms-eval model: a distilled checkpoint on lmms-eval's video tasks.

    pip install lmms-eval            # in the environment where aotd is installed (pip install -e .)
    lmms-eval --model aotd --model_args pretrained=runs/aotd/model,rationale=false \\
        --tasks nextqa_mc_test --batch_size 1 --log_samples --output_path runs/lmms_eval

Registration. lmms-eval >= 0.6 builds its model registry from its built-in table, then the
deprecated ``LMMS_EVAL_PLUGINS`` variable, then the ``lmms_eval.models`` entry points
(``lmms_eval/models/__init__.py``, ``_initialize_model_registry``); an entry point must give a
``ModelManifest`` (or a callable returning one), not the class, and the class it names is
imported only when ``--model aotd`` is asked for. aotd's pyproject declares
``aotd = "aotd.integrations:lmms_eval_manifest"``, so an installed aotd is found with no
setting. From a source checkout that is on ``PYTHONPATH`` but not installed (no entry points),
``LMMS_EVAL_PLUGINS=aotd.integrations`` works too: lmms-eval imports
``aotd.integrations.models`` and reads its ``AVAILABLE_MODELS``. lmms-eval <= 0.5 knows only
that variable.

Model args (``--model_args k=v,...``):

* ``pretrained``: the ``model/`` folder a training run wrote (or the run folder holding it);
  any student ``aotd.distill.students.load_student`` opens, embedded or transformers.
* ``max_new_tokens``: the answer's token budget; default the task's ``max_new_tokens``, else 16.
* ``rationale`` (false): also write the student's rationale, after the answer (see Outputs).
* ``rationale_tokens`` (384): the rationale's budget, as ``aotd eval --rationale``.
* ``prompt`` (``aotd``): ``aotd`` lays the task's question out as the student was trained
  (see Prompts); ``task`` passes the task's text unchanged.
* ``strict`` (false): a request the student cannot take (its video is missing or undecodable,
  the prompt is too long or holds a character the embedded student cannot write) is logged
  and answered "" (scored wrong) instead of stopping the run; true raises.
* ``device``: default ``cuda:$LOCAL_RANK`` when CUDA is available, else ``cpu``; lmms-eval's
  ``--device`` fills it. ``batch_size`` is accepted and ignored: requests run one at a time.

Inputs. ``doc_to_visual`` gives video paths for video tasks: the first video is read, 32
frames (the student's own count) sampled uniformly over the whole file with
``aotd.data.video.sample_video``, as aotd's own evaluation does. A list of images (image tasks)
becomes frames the same way, resized to the first image's size, repeated when fewer than 32.

Prompts. The students learned one layout (``aotd.distill.records``): the question, options as
``A. text`` lines, then "Answer with the option's letter ..." (multiple choice) or "Answer in
one word or phrase." (open-ended), and "Explain the rationale to answer the question." for the
rationale; the embedded student finds options by their ``A. `` lines. lmms-eval's tasks write
their own (``(A) text`` options, "Question:" labels, pre- and post-prompts). With
``prompt=aotd`` the task's text is read back into a question and options: the first run of
option lines A, B, ... (``A. x``, ``A) x``, ``A: x`` or ``(A) x``) gives the options; lines
after them are dropped (post-prompts); lines before them are the question, less lines that are
instructions (starting "Answer", "Respond", "Select", "Choose", "Please", "Pick", "The best
answer", "Options:") and less "Question:" labels, all of them kept if nothing else is left.
The student's reply to a multiple-choice question is read with ``aotd.models.options.parse_option``
and returned as the option's letter, as ``aotd eval`` scores it; a reply that names no option is
returned as written (no seeded guess). Text the embedded student cannot write (curly quotes,
accents) is folded to ASCII before it gives up on a request.

Outputs. One string per request: the answer; with ``rationale=true`` the answer, a newline
and the rationale (the answer first, so task parsers that read the first option letter still
score it; leave it false for tasks that compare the whole reply). Generation is greedy whatever
the task's sampling settings; the task's ``until`` strings cut the answer. ``loglikelihood``
(multiple-choice output types) scores the continuation as the student's answer to the prompt
from one teacher-forced pass (sum of the continuation tokens' log-probabilities, and whether each
is the argmax). Multi-round tasks (``generate_until_multi_round``) are not supported.

Without lmms-eval installed the class still works on its own (``generate_until`` over objects
with lmms-eval's ``Instance.args`` layout, ``task_dict`` filled by the caller); with lmms-eval
installed it subclasses ``lmms_eval.api.model.lmms``, which lmms-eval's registry requires.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from aotd.data.sampling import sample_indices
from aotd.data.schema import NUM_FRAMES
from aotd.errors import AotdError
from aotd.eval.run import ANSWER_TOKENS, RATIONALE_TOKENS  # aotd eval's budgets for an answer and a rationale
from aotd.models.options import LETTERS, RATIONALE_SUFFIX, answer_prompt, parse_option, rationale_prompt
from aotd.models.student import ANSWER

log = logging.getLogger(__name__)

PROMPTS = ("aotd", "task")
_CACHED_VIDEOS = 4  # multiple-choice loglikelihood asks about one video once per option

try:  # lmms-eval's registry only takes subclasses of its base; without it the adapter stands alone
    from lmms_eval.api.model import lmms as _Base

    LMMS_EVAL = True
except ImportError:
    LMMS_EVAL = False

    class _NoCache:
        def add_partial(self, attr: str, req: Any, res: Any) -> None:
            pass

    class _Base:  # type: ignore[no-redef]
        """The parts of ``lmms_eval.api.model.lmms`` the adapter uses: rank 0 of 1, no response
        cache, and ``task_dict`` (task -> split -> docs), which lmms-eval's evaluator fills."""

        is_simple = True

        def __init__(self) -> None:
            self._rank, self._world_size = 0, 1
            self.cache_hook: Any = _NoCache()
            self.task_dict: dict[str, Any] = {}

        @property
        def rank(self) -> int:
            return self._rank

        @property
        def world_size(self) -> int:
            return self._world_size

        def set_cache_hook(self, cache_hook: Any) -> None:
            self.cache_hook = cache_hook


class AotdStudent(_Base):
    """A saved aotd student behind lmms-eval's ``lmms`` interface (a "simple" model: it reads
    ``doc_to_visual``). See the module docstring for the model args, prompts and outputs."""

    is_simple = True

    def __init__(self, pretrained: str | os.PathLike[str] | None = None, max_new_tokens: int | None = None,
                 rationale: bool | str = False, rationale_tokens: int = RATIONALE_TOKENS, prompt: str = "aotd",
                 strict: bool | str = False, device: str | None = None, batch_size: int | str | None = 1,
                 max_batch_size: int | None = None, **unknown: Any) -> None:
        super().__init__()
        if unknown:
            raise AotdError(f"aotd lmms-eval model: unknown model_args {sorted(unknown)}; known: pretrained, "
                            "max_new_tokens, rationale, rationale_tokens, prompt, strict, device")
        if pretrained is None or str(pretrained).strip() == "":
            raise AotdError("aotd lmms-eval model: pass --model_args pretrained=MODEL_DIR, the model/ folder that "
                            "`aotd distill train` wrote")
        if prompt not in PROMPTS:
            raise AotdError(f"aotd lmms-eval model: prompt={prompt!r}; use one of {', '.join(PROMPTS)}")
        from aotd.distill.students import load_student
        from aotd.models.student import MARKER

        path = Path(pretrained).expanduser()
        if not (path / MARKER).is_file() and (path / "model" / MARKER).is_file():
            path = path / "model"  # the run folder rather than its model/
        self.pretrained = path
        self.max_new_tokens = int(max_new_tokens) if max_new_tokens not in (None, "") else None
        self.rationale = _flag(rationale, "rationale")
        self.rationale_tokens = int(rationale_tokens)
        self.prompt = prompt
        self.strict = _flag(strict, "strict")
        if batch_size not in (None, 1, "1", "auto"):
            log.info("aotd lmms-eval model: batch_size=%s ignored; requests run one at a time", batch_size)
        if device in (None, "", "auto"):
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
        self._device = torch.device(device)
        self.student = load_student(path)  # AotdError naming the folder when it holds no student
        self.student.model.to(self._device)
        self.student.model.eval()
        self.num_frames = _frame_count(self.student)
        self.failures = 0
        self._videos: OrderedDict[str, Any] = OrderedDict()

    @property
    def device(self) -> torch.device:
        return self._device

    # -- lmms-eval's requests ---------------------------------------------------------------
    def generate_until(self, requests: Sequence[Any]) -> list[str]:
        """One reply per request; ``args`` is (context, gen_kwargs, doc_to_visual, doc_id, task, split)."""
        replies = []
        for request in tqdm(requests, desc="aotd student", disable=self.rank != 0):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            gen_kwargs = dict(gen_kwargs or {})
            try:
                reply = self._reply(context, gen_kwargs, self._visuals(doc_to_visual, doc_id, task, split))
            except (AotdError, ValueError) as exc:
                reply = self._failed(exc, task, doc_id, "")
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), reply)
            replies.append(reply)
        return replies

    def loglikelihood(self, requests: Sequence[Any]) -> list[tuple[float, bool]]:
        """(log P(continuation | video, prompt), whether greedy decoding would write it) per request;
        ``args`` is (context, continuation or doc_to_target, doc_to_visual, doc_id, task, split)."""
        results = []
        for request in tqdm(requests, desc="aotd student", disable=self.rank != 0):
            args = tuple(request.args) + (None,) * (6 - len(request.args))
            context, continuation, doc_to_visual, doc_id, task, split = args[:6]
            result: tuple[float, bool]
            try:
                if doc_to_visual is None:  # acc_mutual_info's unconditional requests are (context, continuation)
                    raise ValueError("a loglikelihood request without a video; the students score answers about a video")
                if callable(continuation):  # output_type loglikelihood passes doc_to_target
                    continuation = continuation(self.task_dict[task][split][doc_id])
                frames = self._frames(self._visuals(doc_to_visual, doc_id, task, split))
                result = self._score(frames, self._prompts(context)[0], str(continuation).strip())
            except (AotdError, ValueError) as exc:
                result = self._failed(exc, task, doc_id, (float("-inf"), False))
            self.cache_hook.add_partial("loglikelihood", (context, continuation), result)
            results.append(result)
        return results

    def generate_until_multi_round(self, requests: Sequence[Any]) -> list[str]:
        raise NotImplementedError("the aotd students answer one prompt per video; multi-round tasks "
                                  "(output_type generate_until_multi_round) are not supported")

    # -- one request --------------------------------------------------------------------------
    def _reply(self, context: str, gen_kwargs: dict[str, Any], visuals: list[Any]) -> str:
        frames = self._frames(visuals)
        prompt, explain, choices = self._prompts(context)
        budget = self.max_new_tokens or int(gen_kwargs.get("max_new_tokens") or ANSWER_TOKENS)
        answer = _cut(self._generate(frames, prompt, budget), gen_kwargs.get("until"))
        if choices:
            parsed = parse_option(answer, choices, rng_seed=0)
            if not parsed.fallback:
                answer = LETTERS[parsed.index]
        if not self.rationale:
            return answer
        return answer + "\n" + self._generate(frames, explain, self.rationale_tokens)

    def _prompts(self, context: str) -> tuple[str, str, list[str]]:
        """(answer prompt, rationale prompt, options found) for a task's text."""
        if self.prompt == "task":
            return context, context.rstrip() + "\n" + RATIONALE_SUFFIX, []
        question, choices = split_task_prompt(context)
        return answer_prompt(question, choices), rationale_prompt(question, choices), choices

    def _generate(self, frames: Any, prompt: str, max_new_tokens: int) -> str:
        try:
            return self.student.generate(frames, prompt, max_new_tokens=max_new_tokens).strip()
        except ValueError:
            folded = to_ascii(prompt)
            if folded == prompt:
                raise
            return self.student.generate(frames, folded, max_new_tokens=max_new_tokens).strip()

    @torch.no_grad()
    def _score(self, frames: Any, prompt: str, continuation: str) -> tuple[float, bool]:
        if not continuation:
            return 0.0, True
        student = self.student
        try:
            example = student.encode(frames, prompt, continuation, ANSWER)
        except ValueError:
            folded_prompt, folded = to_ascii(prompt), to_ascii(continuation)
            if (folded_prompt, folded) == (prompt, continuation):
                raise
            example = student.encode(frames, folded_prompt, folded, ANSWER)
        batch = student.collate([example])
        logits = student.logits(batch)[0].float()
        ids, segments = batch["input_ids"][0].to(logits.device), batch["segments"][0].to(logits.device)
        at = (segments == ANSWER).nonzero().flatten()[:-1]  # the continuation's tokens; the last is end-of-text
        if len(at) == 0:
            return 0.0, True
        logp = torch.log_softmax(logits[at - 1], dim=-1)  # logits[t] predicts ids[t + 1]
        gold = ids[at]
        return float(logp.gather(1, gold[:, None]).sum()), bool((logp.argmax(-1) == gold).all())

    def _visuals(self, doc_to_visual: Any, doc_id: Any, task: str, split: str) -> list[Any]:
        if doc_to_visual is None:
            raise ValueError("the request has no visual input; the students answer questions about a video")
        try:
            doc = self.task_dict[task][split][doc_id]
        except (KeyError, IndexError, TypeError) as exc:
            raise AotdError(f"aotd lmms-eval model: no document {doc_id!r} of task {task!r} split {split!r} in "
                            "task_dict (lmms-eval's evaluator fills it)") from exc
        visuals = doc_to_visual(doc)
        if visuals is None:
            return []
        return list(visuals) if isinstance(visuals, list | tuple) else [visuals]

    def _frames(self, visuals: list[Any]) -> Any:
        """The student's input for a request's visuals: its prepared frames (tower features for
        the embedded student), the video's remembered for the next requests about it."""
        if not visuals:
            raise ValueError("the request has no video; the students answer questions about a video")
        first = visuals[0]
        if isinstance(first, str | os.PathLike):
            key = str(first)
            if key in self._videos:
                self._videos.move_to_end(key)
                return self._videos[key]
            if len(visuals) > 1:
                log.warning("aotd lmms-eval model: %d videos in one request; reading the first, %s", len(visuals), key)
            from aotd.data.video import sample_video

            frames = self._prepare(sample_video(key, n=self.num_frames).frames)
            self._videos[key] = frames
            while len(self._videos) > _CACHED_VIDEOS:
                self._videos.popitem(last=False)
            return frames
        if isinstance(first, dict):
            raise ValueError("audio inputs are not supported; the students read video frames")
        return self._prepare(images_to_frames(visuals, self.num_frames))

    def _prepare(self, frames: np.ndarray) -> Any:
        prepare = getattr(self.student, "prepare_frames", None)
        return prepare(frames) if prepare else frames

    def _failed(self, exc: Exception, task: Any, doc_id: Any, answer: Any) -> Any:
        if self.strict:
            raise exc
        self.failures += 1
        log.warning("aotd lmms-eval model: task %s doc %s not answered (%s: %s); scored as %r (strict=true raises)",
                    task, doc_id, type(exc).__name__, str(exc)[:300], answer)
        return answer


# --- prompts -----------------------------------------------------------------------------------
_OPTION = re.compile(rf"^\s*(?:\(([{LETTERS}])\)|([{LETTERS}])[.):])\s*(\S.*?)\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:answer|respond|select|choose|please|pick|the best answer|best option|"
                          r"only give|options?\s*:?\s*$)", re.IGNORECASE)
_LABEL = re.compile(r"^\s*question\s*:\s*", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<(?:image|video)>")


def split_task_prompt(context: str) -> tuple[str, list[str]]:
    """An lmms-eval task's text read back into (question, options); options empty when it has
    no run of option lines A, B, ... (see the module docstring for the rules)."""
    lines = _PLACEHOLDER.sub("", context).splitlines()
    start, choices = _option_run(lines)
    before = [line.strip() for line in (lines[:start] if choices else lines) if line.strip()]
    kept = [_LABEL.sub("", line).strip() for line in before if not _INSTRUCTION.match(line)]
    question = "\n".join(line for line in kept if line) or "\n".join(before)
    return question, choices


def _option_run(lines: list[str]) -> tuple[int, list[str]]:
    """(index of its first line, texts) of the first run of two or more option lines A, B, ..."""
    for i, line in enumerate(lines):
        m = _OPTION.match(line)
        if not m or (m.group(1) or m.group(2)) != "A":
            continue
        texts = [m.group(3)]
        for nxt in lines[i + 1 :]:
            m = _OPTION.match(nxt)
            if len(texts) == len(LETTERS) or not m or (m.group(1) or m.group(2)) != LETTERS[len(texts)]:
                break
            texts.append(m.group(3))
        if len(texts) >= 2:
            return i, texts
    return 0, []


def _cut(text: str, until: Any) -> str:
    """``text`` up to the first of the task's stop strings."""
    stops = [until] if isinstance(until, str) else list(until or [])
    for stop in stops:
        if isinstance(stop, str) and stop:
            text = text.split(stop, 1)[0]
    return text.strip()


_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                       "\u2026": "...", "\u00a0": " ", "\t": " "})


def to_ascii(text: str) -> str:
    """``text`` in printable ASCII: typographic quotes and dashes as their ASCII forms, accents
    dropped (NFKD), anything else removed."""
    return unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore").decode()


# --- frames ------------------------------------------------------------------------------------
def images_to_frames(images: Iterable[Any], n: int = NUM_FRAMES) -> np.ndarray:
    """(n, H, W, 3) uint8 frames from images (PIL images or arrays), sampled uniformly and
    repeated when fewer than ``n``, each resized to the first one's size."""
    from PIL import Image

    arrays = [np.asarray(im.convert("RGB")) if hasattr(im, "convert") else np.asarray(im) for im in images]
    if not arrays:
        raise ValueError("no images to make frames from")
    out = []
    for a in arrays:
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] not in (3, 4):
            raise ValueError(f"an image must be (H, W, 3) RGB, got shape {a.shape}")
        a = np.ascontiguousarray(a[..., :3]).astype(np.uint8, copy=False)
        height, width = out[0].shape[:2] if out else a.shape[:2]
        if a.shape[:2] != (height, width):
            a = np.asarray(Image.fromarray(a).resize((width, height), Image.Resampling.BILINEAR))
        out.append(a)
    return np.stack([out[i] for i in sample_indices(len(out), n)])


def _frame_count(student: Any) -> int:
    """How many frames the student reads: its own setting, else the paper's 32."""
    config = getattr(student, "config", None)
    return int(getattr(student, "num_frames", None) or getattr(config, "num_frames", None) or NUM_FRAMES)


def _flag(value: bool | str, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise AotdError(f"aotd lmms-eval model: {name}={value!r}; use true or false")
