"""Run configuration: which candidate serves each sub-task, which planner, sandbox limits.

``configs/embedded.yaml`` is the default; ``aotd select`` writes the same shape with the
chosen tools, so its output is what ``aotd agent --config`` reads next.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, ValidationError, model_serializer

from aotd.errors import AotdError

_M = TypeVar("_M", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # fields added after records were first written: left out of the dump (and so of the digest
    # every record carries) while at their defaults, so older runs still resume
    _LATER: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in self._LATER:
            if key in data and getattr(self, key) == type(self).model_fields[key].get_default(call_default_factory=True):
                del data[key]
        return data


class TrainConfig(BaseModel):
    """Step 4's trainer settings (``distill.train`` in a config file)."""

    model_config = ConfigDict(extra="forbid")

    lam: float = Field(1.0, ge=0)  # λ: the weight of L_rationale (the paper uses 1)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(16, ge=1)  # samples per process and micro-batch, each with its answer and rationale records
    grad_accum: int = Field(1, ge=1)  # micro-batches per optimizer step: global batch = batch_size·grad_accum·processes
    lr: float = Field(3e-4, gt=0)
    weight_decay: float = 0.01
    warmup_steps: int = Field(20, ge=0)
    warmup_ratio: float | None = Field(None, ge=0, lt=1)  # a share of all steps (the paper: 0.03); wins over steps
    min_lr_ratio: float = Field(0.1, ge=0, le=1)  # where the cosine ends, relative to lr (the paper: 0)
    # accelerate's autocast (the paper trains in bf16); None: the launcher's choice (accelerate config), else no
    mixed_precision: Literal["no", "bf16", "fp16"] | None = None
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = Field(100, ge=1)  # steps
    # log each term's gradient norm every N steps (one process; 0: never): two extra backward passes each time
    term_grad_every: int = Field(25, ge=0)
    max_steps: int | None = None  # stop early (tests, smoke runs); the checkpoint is written


DEFAULT_TOOL_MODELS: dict[str, str] = {  # transformers candidates (aotd.tools.hf) -> the paper's checkpoints
    "owl-vit": "google/owlvit-base-patch32",
    "owlv2": "google/owlv2-base-patch16-ensemble",
    "grounding-dino": "IDEA-Research/grounding-dino-tiny",
    "xclip": "microsoft/xclip-base-patch32",
    "clip-window": "openai/clip-vit-large-patch14",
    "video-llm": "llava-hf/LLaVA-NeXT-Video-7B-DPO-hf",
}


class ToolModelSpec(_Section):
    """How one transformers candidate runs: its weights, where, in what precision, how many frames a pass."""

    model: str | None = None  # hub id or local folder (save_pretrained); None: DEFAULT_TOOL_MODELS[candidate]
    device: str = "auto"  # auto (cuda when there is one, else cpu) | cpu | cuda | cuda:1 ...
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"  # auto: bfloat16 on cuda, float32 on cpu
    batch_size: int = Field(8, ge=1)  # frames per forward pass (detectors, clip-window)
    threshold: float | None = None  # detectors: least box score; clip-window: least window score; None: default


class ToolCandidates(_Section):
    """The candidates ``aotd select`` scores per sub-task; None: the embedded ones (no hub model loads)."""

    detection: list[str] | None = None
    grounding: list[str] | None = None
    recognition: list[str] | None = None
    qa: list[str] | None = None


class ToolChoice(_Section):
    """One candidate per sub-task for the agent, plus what transformers candidates need (``aotd.tools.hf``)."""

    detection: str = "cnn"
    grounding: str = "clip-cnn"
    recognition: str = "clip-cnn"
    qa: str = "visual"
    models: dict[str, ToolModelSpec] = Field(default_factory=dict)  # per candidate name, e.g. models.owlv2.model
    labels: str | None = None  # action labels of xclip / video-llm recognition: STAR class folder or text file
    candidates: ToolCandidates = ToolCandidates()  # step 1

    SUBTASKS: ClassVar[tuple[str, ...]] = ("detection", "grounding", "recognition", "qa")
    _LATER: ClassVar[tuple[str, ...]] = ("models", "labels", "candidates")

    def model_spec(self, name: str) -> ToolModelSpec:
        """``models[name]`` with the candidate's default checkpoint filled in."""
        spec = self.models.get(name) or ToolModelSpec()
        if spec.model is None and name in DEFAULT_TOOL_MODELS:
            spec = spec.model_copy(update={"model": DEFAULT_TOOL_MODELS[name]})
        return spec


class LLMConfig(_Section):
    """One LLM a step talks to, the same keys wherever one is used: the planner (``planner``),
    the converter and both judges (``cot``), and the eval judge (``eval.judge``)."""

    backend: Literal["openai", "transformers"] | None = None
    model: str | None = None
    base_url: str | None = None
    api: Literal["chat", "completion"] = "chat"  # openai: /v1/chat/completions, or /v1/completions on a transcript
    temperature: float = 0.0
    max_tokens: int = 1024
    timeout_s: float = Field(120.0, gt=0)  # openai: per request; then bounded retries with backoff
    max_retries: int = Field(3, ge=0)


class PlannerConfig(LLMConfig):
    kind: Literal["rules", "one-hop", "llm"] = "rules"
    max_tokens: int = 768
    timeout_s: float = Field(60.0, gt=0)

    _LATER: ClassVar[tuple[str, ...]] = ("api", "timeout_s", "max_retries")


class CotConfig(LLMConfig):
    """Step 3: who writes rationales, who judges them, and the LLM both use when asked (its
    ``max_tokens``: a verbose rationale keeps every box, 32 boxes alone are ~500 tokens)."""

    # program: the program's reasoning and the tool facts it used, short (the embedded default);
    # rules: every tool call and output, verbose; llm: the paper's LLM conversion
    converter: Literal["program", "rules", "llm"] = "program"
    judge: Literal["rules", "llm"] = "rules"  # stage (ii)
    answer_judge: Literal["normalized", "llm"] = "normalized"  # stage (i), open-ended questions only
    judge_all: bool = False  # also judge rationales whose answer is wrong (for filtering ablations)

    _LATER: ClassVar[tuple[str, ...]] = ("api",)


class DistillConfig(_Section):
    """Step 4: which student, from which weights, trained how (``train`` is the trainer's config)."""

    student: Literal["embedded", "llava-next-video", "llava-onevision", "qwen2-vl", "qwen2.5-vl"] = "embedded"
    model: str | None = None  # transformers students: a local directory or hub id of pretrained weights
    lora: bool = False  # transformers students: LoRA on the language model instead of full fine-tuning
    dtype: Literal["float32", "bfloat16", "float16"] | None = None  # transformers students: load dtype
    freeze_vision: bool = True  # the paper trains the language model and projector, never the vision tower
    gradient_checkpointing: bool = False  # transformers students: recompute activations (7B on one GPU)
    train: TrainConfig = TrainConfig()


class EvalConfig(_Section):
    """``aotd eval``: the LLM that scores open-ended answers (no ``backend`` nor ``model``: none,
    answers are scored by normalised match)."""

    judge: LLMConfig = LLMConfig()


class SandboxConfig(_Section):
    timeout_s: float = Field(20.0, gt=0)
    memory_mb: int = Field(1024, gt=64)
    isolate: bool = True


class Config(_Section):
    tools: ToolChoice = ToolChoice()
    planner: PlannerConfig = PlannerConfig()
    sandbox: SandboxConfig = SandboxConfig()
    cot: CotConfig = CotConfig()
    distill: DistillConfig = DistillConfig()
    eval: EvalConfig = EvalConfig()

    def digest(self, *sections: str) -> str:
        """Short hash recorded in every record, so outputs of different configs are told apart.

        ``sections`` limits it to what a stage depends on: traces hash ``AGENT_SECTIONS``, so
        changing the step-3 judge does not make existing traces look foreign.
        """
        data = self.model_dump()
        if sections:
            data = {k: data[k] for k in sections}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


AGENT_SECTIONS = ("tools", "planner", "sandbox")
COT_SECTIONS = (*AGENT_SECTIONS, "cot")


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """The config in ``path`` (None: the defaults) with ``overrides`` (``--set``) applied on top."""
    config = _load_file(path)
    return apply_overrides(config, overrides) if overrides else config


def apply_overrides(config: Config, overrides: Sequence[str]) -> Config:
    """``section.key=value`` assignments on top of ``config``, validated as a file is.

    The value is read as YAML (``0.5``, ``true``, ``null``, ``[a, b]``; anything else stays a
    string), so ``--set distill.train.lam=0.5 --set cot.judge=llm`` works on every command that
    takes a config, and changes the digest its records carry like an edited file would.
    """
    data = config.model_dump()
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise AotdError(f"--set {item!r}: expected section.key=value, e.g. --set distill.train.lam=0.5 "
                            f"(sections: {', '.join(Config.model_fields)})")
        node = data
        for depth, part in enumerate(parts[:-1]):
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise AotdError(f"--set {item!r}: {'.'.join(parts[: depth + 1])} is a value, not a section")
        try:
            node[parts[-1]] = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError:
            node[parts[-1]] = text
    return validated(Config, data, where="--set: ")


def _load_file(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    path = Path(path)
    if not path.is_file():
        raise AotdError(f"{path}: config file not found (see configs/embedded.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AotdError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise AotdError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8") from None
    return validated(Config, raw, where=f"{path}: ")


def validated(model: type[_M], data: Any, *, where: str, section: str = "") -> _M:
    """``model`` from ``data``; else one line naming the first bad field (``where`` says whence)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AotdError(f"{where}field '{section}{'.'.join(str(p) for p in first['loc'])}': {first['msg']}") from None


def save_config(config: Config, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(), sort_keys=False), encoding="utf-8")
