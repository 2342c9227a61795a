"""What the trainer needs from a student (a trainable Video-LLM), whatever its architecture.

A student turns a record and its 32 sampled frames into token ids with a segment id per token
(``aotd.distill.loss``: prompt masked, target as answer or rationale), batches them, returns
logits aligned with the ids, generates text from frames and a prompt, and saves/loads itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

IGNORE, ANSWER, RATIONALE = 0, 1, 2  # a token's segment: masked, L_label's, L_rationale's
MARKER = "aotd_student.json"  # beside a saved student's weights: {"kind": "embedded" | "<hf arch>", ...}


@dataclass
class Example:
    """One encoded training example: ids (prompt then target then end-of-text) and segments."""

    input_ids: list[int]
    segments: list[int]
    visual: dict[str, Any] = field(default_factory=dict)  # the student's own frame inputs (tensors)
    sample_id: str = ""  # the sample it was made from: its answer and rationale records train in one step


class Student(Protocol):
    name: str
    model: torch.nn.Module  # what the optimizer trains (only parameters with requires_grad); logits() calls it
    max_length: int  # tokens, prompt + target, the student can take
    # (optional) keep_examples: bool = True -- False when encoded examples are too big to keep in memory

    def encode(self, frames: np.ndarray, prompt: str, target: str, segment: int) -> Example:
        """Frames (32, H, W, 3) uint8; raises ValueError when the example cannot be encoded
        (too long for ``max_length``, a character the tokenizer cannot write)."""
        ...

    def collate(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        """A padded batch with at least ``input_ids`` and ``segments`` (padding is IGNORE)."""
        ...

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, T, V) logits aligned with ``batch["input_ids"]``."""
        ...

    def generate(self, frames: np.ndarray, prompt: str, max_new_tokens: int = 256) -> str: ...

    def save(self, directory: Path) -> None: ...
