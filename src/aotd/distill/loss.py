"""L = L_label + λ·L_rationale over token segments (paper Eq. 3).

Every target token carries a segment id: ``IGNORE`` (prompt, padding, video tokens: masked),
``ANSWER`` or ``RATIONALE``. Each term is the mean cross-entropy over its own tokens in the
batch, so a 200-token rationale does not outweigh a one-token answer by its length, and
L_rationale is 0 (not NaN) when the batch holds no rationale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aotd.models.student import ANSWER, RATIONALE


@dataclass
class DualLoss:
    total: torch.Tensor
    label: torch.Tensor
    rationale: torch.Tensor
    label_tokens: int
    rationale_tokens: int


def dual_loss(logits: torch.Tensor, input_ids: torch.Tensor, segments: torch.Tensor, lam: float = 1.0) -> DualLoss:
    """``logits[b, t]`` predicts ``input_ids[b, t + 1]``, whose segment is ``segments[b, t + 1]``.

    Shapes: logits (B, T, V); input_ids and segments (B, T).
    """
    if logits.shape[:2] != input_ids.shape or input_ids.shape != segments.shape:
        raise ValueError(f"shapes differ: logits {tuple(logits.shape)}, ids {tuple(input_ids.shape)}, "
                         f"segments {tuple(segments.shape)}")
    pred = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    gold = input_ids[:, 1:].reshape(-1)
    seg = segments[:, 1:].reshape(-1)
    nll = F.cross_entropy(pred, gold, reduction="none")
    zero = nll.sum() * 0.0  # keeps the graph (and the device) when a term has no tokens

    def term(kind: int) -> tuple[torch.Tensor, int]:
        mask = seg == kind
        n = int(mask.sum())
        return (nll[mask].mean() if n else zero), n

    label, n_label = term(ANSWER)
    rationale, n_rationale = term(RATIONALE)
    return DualLoss(total=label + lam * rationale, label=label, rationale=rationale,
                    label_tokens=n_label, rationale_tokens=n_rationale)
