"""L = L_label + λ·L_rationale: masking and weighting pinned on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from aotd.distill.loss import dual_loss
from aotd.models.student import ANSWER, IGNORE, RATIONALE


def _logits_for(probs: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is exactly ``probs`` (one row per position)."""
    return torch.tensor(probs).log().unsqueeze(0)


def test_prompt_tokens_are_masked_and_each_term_is_averaged_over_its_own_tokens() -> None:
    # vocabulary of 2; positions 0..4. logits[t] predicts ids[t+1] with segment segments[t+1].
    ids = torch.tensor([[0, 1, 0, 1, 1]])
    segments = torch.tensor([[IGNORE, IGNORE, ANSWER, RATIONALE, RATIONALE]])
    probs = [[0.5, 0.5],   # predicts id 1 (prompt): masked whatever its probability
             [0.8, 0.2],   # predicts id 0 (answer): p = 0.8
             [0.3, 0.7],   # predicts id 1 (rationale): p = 0.7
             [0.6, 0.4],   # predicts id 1 (rationale): p = 0.4
             [0.9, 0.1]]   # the last position predicts nothing
    out = dual_loss(_logits_for(probs), ids, segments, lam=0.5)
    label = -math.log(0.8)
    rationale = (-math.log(0.7) - math.log(0.4)) / 2
    assert out.label.item() == pytest.approx(label, abs=1e-6)
    assert out.rationale.item() == pytest.approx(rationale, abs=1e-6)
    assert out.total.item() == pytest.approx(label + 0.5 * rationale, abs=1e-6)
    assert (out.label_tokens, out.rationale_tokens) == (1, 2)


def test_changing_a_masked_prediction_changes_nothing() -> None:
    ids = torch.tensor([[0, 1, 0]])
    segments = torch.tensor([[IGNORE, IGNORE, ANSWER]])
    a = dual_loss(_logits_for([[0.5, 0.5], [0.8, 0.2], [0.5, 0.5]]), ids, segments)
    b = dual_loss(_logits_for([[0.01, 0.99], [0.8, 0.2], [0.9, 0.1]]), ids, segments)
    assert a.total.item() == pytest.approx(b.total.item())


def test_a_batch_without_rationales_has_zero_rationale_loss_and_a_gradient() -> None:
    logits = torch.zeros(2, 3, 4, requires_grad=True)
    ids = torch.tensor([[1, 2, 3], [1, 2, 0]])
    segments = torch.tensor([[IGNORE, ANSWER, ANSWER], [IGNORE, ANSWER, IGNORE]])
    out = dual_loss(logits, ids, segments, lam=1.0)
    assert out.rationale.item() == 0.0 and out.rationale_tokens == 0
    assert out.label.item() == pytest.approx(math.log(4))
    out.total.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_lambda_scales_only_the_rationale_term() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 5)
    ids = torch.randint(0, 5, (2, 6))
    segments = torch.tensor([[0, 0, 1, 1, 0, 0], [0, 0, 2, 2, 2, 2]])
    one, three = dual_loss(logits, ids, segments, 1.0), dual_loss(logits, ids, segments, 3.0)
    assert one.label.item() == pytest.approx(three.label.item())
    assert three.total.item() - three.label.item() == pytest.approx(3 * (one.total.item() - one.label.item()), rel=1e-5)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        dual_loss(torch.zeros(1, 4, 3), torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))
