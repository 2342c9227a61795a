"""Run configuration: which candidate serves each sub-task, which planner, sandbox limits.

``configs/embedded.yaml`` is the default; ``aotd select`` writes the same shape with the
chosen tools, so its output is what ``aotd agent --config`` reads next.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aotd.distill.train_config import TrainConfig
from aotd.errors import AotdError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolChoice(_Section):
    detection: str = "cnn"
    grounding: str = "clip-cnn"
    recognition: str = "clip-cnn"
    qa: str = "visual"


class PlannerConfig(_Section):
    kind: Literal["rules", "one-hop", "llm"] = "rules"
    backend: Literal["openai", "transformers"] | None = None
    model: str | None = None
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int = 768


class CotConfig(_Section):
    """Step 3: who writes rationales, who judges them, and the LLM both use when asked."""

    converter: Literal["rules", "llm"] = "rules"
    judge: Literal["rules", "llm"] = "rules"  # stage (ii)
    answer_judge: Literal["normalized", "llm"] = "normalized"  # stage (i), open-ended questions only
    judge_all: bool = False  # also judge rationales whose answer is wrong (for filtering ablations)
    backend: Literal["openai", "transformers"] | None = None
    model: str | None = None
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int = 1024  # a rationale keeps every box: 32 boxes alone are ~500 tokens
    timeout_s: float = Field(120.0, gt=0)  # per request; then bounded retries with backoff
    max_retries: int = Field(3, ge=0)


class DistillConfig(_Section):
    """Step 4: which student, from which weights, trained how (``train`` is the trainer's config)."""

    student: Literal["embedded", "llava-next-video", "llava-onevision", "qwen2-vl", "qwen2.5-vl"] = "embedded"
    model: str | None = None  # transformers students: a local directory or hub id of pretrained weights
    lora: bool = False  # transformers students: LoRA on the language model instead of full fine-tuning
    train: TrainConfig = TrainConfig()


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


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    path = Path(path)
    if not path.is_file():
        raise AotdError(f"{path}: config file not found (see configs/embedded.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AotdError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AotdError(f"{path}: field '{where}': {first['msg']}") from None


def save_config(config: Config, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(), sort_keys=False), encoding="utf-8")
