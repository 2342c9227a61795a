"""Open-vocabulary detectors: OWL-ViT, OWLv2 and Grounding DINO as ``Detector`` candidates.

The paper's step 1 picks OWLv2 for detection. Each adapter asks its model for the query in
every frame of the clip (frames batched ``batch_size`` at a time), keeps the best-scoring box
per frame when it clears ``threshold`` and maps it back to the original frame's pixels: OWL-ViT
stretches the frame to a square, OWLv2 pads it to a square first (so its boxes are fractions of
the padded side), Grounding DINO keeps the aspect. A query naming alternatives the STAR way
("cup/glass/bottle") asks for each and keeps the best; the box's label is the query as given.
"""

from __future__ import annotations

from typing import Any

import torch

from aotd.tools.clip import Clip
from aotd.tools.hf.adapter import HFAdapter
from aotd.tools.hf.loading import LazyModel, ModelRef, shared
from aotd.tools.hf.prep import Processing
from aotd.tools.memo import FrameMemo
from aotd.tools.types import Box

OWL_FAMILIES = ("owl-vit", "owlv2")


def alternatives(query: str) -> list[str]:
    """"cup/glass/bottle" -> ["cup", "glass", "bottle"]; anything else -> [query], trimmed."""
    parts = [p.strip() for p in query.split("/") if p.strip()]
    return parts or [query.strip()]


class _OpenVocabDetector(HFAdapter):
    """Batching over frames, the best box per frame, mapping back; subclasses run the model."""

    default_threshold = 0.1

    def __init__(self, model: Any, processor: Any = None, *, threshold: float | None = None, batch_size: int = 8,
                 name: str | None = None) -> None:
        self._bind(model, processor)
        self.name = name or self.family
        self.threshold = self.default_threshold if threshold is None else float(threshold)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)
        # the questions of a video ask for the same objects in the same frames: each (frame, query)
        # is run once (the frame keyed by its content); () stands for "no box above the threshold"
        self._boxes: FrameMemo[tuple[float, ...]] = FrameMemo()

    def settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    @torch.no_grad()
    def detect(self, clip: Clip, query: str) -> list[Box]:
        model, proc = self.model_and_processing()
        param = next(model.parameters())
        height, width = clip.sampled.frames.shape[1:3]

        def best_boxes(missing: list[int]) -> list[tuple[float, ...]]:
            frames = clip.sampled.frames[[clip.ids[i] for i in missing]]
            text = self._text(model, proc, alternatives(query), param.device)
            found: list[tuple[float, ...]] = []
            for at in range(0, len(frames), self.batch_size):
                pixels = proc.prep(frames[at : at + self.batch_size], param.device, param.dtype)
                scores, xyxy = self._predict(model, pixels, text, height, width)  # (b, k), (b, k, 4) frame pixels
                found.extend(_best_box(scores[row], xyxy[row], width, height, self.threshold) or ()
                             for row in range(len(pixels)))
            return found

        digests = clip.sampled.frame_digests()
        best = self._boxes.get([(digests[i], query) for i in clip.ids], best_boxes)
        return [Box(i, *b[:4], label=query, score=b[4]) for i, b in zip(clip.ids, best) if b]

    def _text(self, model: Any, proc: Processing, queries: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _predict(self, model: Any, pixels: torch.Tensor, text: dict[str, torch.Tensor], height: int,
                 width: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


def _best_box(scores: torch.Tensor, xyxy: torch.Tensor, width: int, height: int,
              threshold: float) -> tuple[float, float, float, float, float] | None:
    """The highest-scoring candidate that still covers part of the frame once clipped to it."""
    xyxy = xyxy.float().clone()
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, width)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, height)
    inside = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    scores = torch.where(inside, scores.float(), torch.full_like(scores, -1.0, dtype=torch.float32))
    k = int(scores.argmax())
    score = float(scores[k])
    if not bool(inside[k]) or score < threshold:
        return None
    x1, y1, x2, y2 = (float(v) for v in xyxy[k].tolist())
    return x1, y1, x2, y2, score


def _cxcywh_to_xyxy(boxes: torch.Tensor, sx: float, sy: float) -> torch.Tensor:
    cx, cy, w, h = boxes.float().unbind(-1)
    return torch.stack([(cx - w / 2) * sx, (cy - h / 2) * sy, (cx + w / 2) * sx, (cy + h / 2) * sy], dim=-1)


class OwlDetector(_OpenVocabDetector):
    """OWL-ViT (``kind="owl-vit"``) or OWLv2 (``kind="owlv2"``): every patch's box scored against each query."""

    def __init__(self, model: Any, processor: Any = None, *, kind: str | None = None, **kwargs: Any) -> None:
        if kind is None:
            if isinstance(model, LazyModel):
                raise ValueError("say which OWL a LazyModel holds: kind='owl-vit' or kind='owlv2'")
            kind = "owlv2" if getattr(model.config, "model_type", "") == "owlv2" else "owl-vit"
        if kind not in OWL_FAMILIES:
            raise ValueError(f"kind must be one of {OWL_FAMILIES}, got {kind!r}")
        self.family = kind
        super().__init__(model, processor, **kwargs)

    @classmethod
    def from_ref(cls, ref: ModelRef, *, kind: str = "owlv2", **kwargs: Any) -> OwlDetector:
        def load(ref: ModelRef) -> tuple[Any, Processing]:
            import transformers

            model_class = transformers.Owlv2ForObjectDetection if kind == "owlv2" else transformers.OwlViTForObjectDetection
            model = model_class.from_pretrained(ref.model, dtype=ref.torch_dtype())
            return model.to(ref.torch_device()).eval(), Processing.from_pretrained(ref.model, kind)

        return cls(shared(kind, ref, load), kind=kind, **kwargs)

    def _text(self, model: Any, proc: Processing, queries: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        length = int(model.config.text_config.max_position_embeddings)  # 16: OWL's text encoder is short
        tok = proc.tokenizer(queries, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
        return {"input_ids": tok["input_ids"].to(device), "attention_mask": tok["attention_mask"].to(device)}

    def _predict(self, model: Any, pixels: torch.Tensor, text: dict[str, torch.Tensor], height: int,
                 width: int) -> tuple[torch.Tensor, torch.Tensor]:
        b = pixels.shape[0]
        out = model(pixel_values=pixels, input_ids=text["input_ids"].repeat(b, 1),
                    attention_mask=text["attention_mask"].repeat(b, 1))
        scores = out.logits.float().sigmoid().amax(dim=-1)  # (b, patches): the best of the query's alternatives
        if self.family == "owlv2":  # boxes are fractions of the padded square
            side = float(max(height, width))
            return scores, _cxcywh_to_xyxy(out.pred_boxes, side, side)
        return scores, _cxcywh_to_xyxy(out.pred_boxes, float(width), float(height))


class GroundingDinoDetector(_OpenVocabDetector):
    """Grounding DINO: the query as a caption ("cup. glass. bottle."); a box scores its best token."""

    family = "grounding-dino"
    default_threshold = 0.3

    @staticmethod
    def model_class() -> Any:
        from transformers import GroundingDinoForObjectDetection

        return GroundingDinoForObjectDetection

    def _text(self, model: Any, proc: Processing, queries: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        caption = " ".join(f"{q.lower().rstrip('.')}." for q in queries)
        length = int(getattr(model.config, "max_text_len", 256))
        tok = proc.tokenizer([caption], truncation=True, max_length=length, return_tensors="pt")
        return {k: v.to(device) for k, v in tok.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def _predict(self, model: Any, pixels: torch.Tensor, text: dict[str, torch.Tensor], height: int,
                 width: int) -> tuple[torch.Tensor, torch.Tensor]:
        b = pixels.shape[0]
        mask = torch.ones((b, *pixels.shape[-2:]), dtype=torch.long, device=pixels.device)
        out = model(pixel_values=pixels, pixel_mask=mask, **{k: v.repeat(b, 1) for k, v in text.items()})
        scores = out.logits.float().sigmoid().amax(dim=-1)  # (b, queries); tokens past the text are -inf
        return scores, _cxcywh_to_xyxy(out.pred_boxes, float(width), float(height))
