"""The trainer's settings, apart from the trainer so that reading a config never imports torch."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
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
    term_grad_every: int = Field(10, ge=0)  # log each term's gradient norm every N steps (one process; 0: never)
    max_steps: int | None = None  # stop early (tests, smoke runs); the checkpoint is written
