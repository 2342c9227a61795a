"""A small but real student for trainer tests: byte tokens, a GRU, and a frame-colour prefix.

It learns (its loss falls) and is quick; the embedded student and the transformers students
have their own tests. Importable by spawned processes (the DDP test) from the tests folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from aotd.models.student import IGNORE, Example

EOS, PAD = 256, 257


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.frames = nn.Linear(3, 32)
        self.embed = nn.Embedding(258, 32)
        self.rnn = nn.GRU(32, 32, batch_first=True)
        self.head = nn.Linear(32, 258)

    def forward(self, input_ids: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        cue = torch.tanh(self.frames(colour))  # the pixels' evidence, at every position
        out, _ = self.rnn(self.embed(input_ids) + cue.unsqueeze(1), cue.unsqueeze(0))
        return self.head(out + cue.unsqueeze(1))


class ToyStudent:
    name = "toy"
    max_length = 400

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.model = _Net()

    def encode(self, frames: np.ndarray, prompt: str, target: str, segment: int) -> Example:
        p, t = list(prompt.encode()), [*target.encode(), EOS]
        if len(p) + len(t) > self.max_length:
            raise ValueError(f"prompt and target are {len(p) + len(t)} tokens, more than {self.max_length}")
        colour = torch.tensor(frames.reshape(-1, 3).mean(0) / 255.0, dtype=torch.float32)
        return Example(p + t, [IGNORE] * len(p) + [segment] * len(t), {"colour": colour})

    def collate(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        n = max(len(e.input_ids) for e in examples)
        ids = torch.full((len(examples), n), PAD)
        seg = torch.zeros((len(examples), n), dtype=torch.long)
        for i, e in enumerate(examples):
            ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
            seg[i, : len(e.segments)] = torch.tensor(e.segments)
        return {"input_ids": ids, "segments": seg, "colour": torch.stack([e.visual["colour"] for e in examples])}

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch["input_ids"], batch["colour"])

    def generate(self, frames: np.ndarray, prompt: str, max_new_tokens: int = 32) -> str:
        ids = list(prompt.encode())
        colour = self.encode(frames, prompt, "", 1).visual["colour"].unsqueeze(0)
        out: list[int] = []
        with torch.no_grad():
            for _ in range(max_new_tokens):
                nxt = int(self.model(torch.tensor([ids + out]), colour)[0, -1].argmax())
                if nxt >= EOS:
                    break
                out.append(nxt)
        return bytes(out).decode(errors="replace")

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), directory / "toy.pt")
