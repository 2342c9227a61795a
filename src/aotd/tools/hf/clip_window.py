"""CLIP frame-text similarity as a ``TemporalGrounder`` (the "CLIP-window" candidate).

Each frame's CLIP image embedding is compared with the query's text embedding (cosine), and
the window of at least ``min_len`` frames whose mean similarity most exceeds the mean of the
frames outside it is the answer (``best_window``). Its score is ``sigmoid(logit_scale *
contrast)``: 0.5 for no contrast, near 1 for a window CLIP clearly prefers; with ``threshold``
set, a window scoring below it is None. Frames are embedded ``batch_size`` at a time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from aotd.tools.clip import Clip
from aotd.tools.hf.adapter import HFAdapter
from aotd.tools.memo import FrameMemo
from aotd.tools.types import Window


def best_window(sims: np.ndarray | list[float], min_len: int = 2) -> tuple[int, int, float]:
    """(i, j, contrast): the inclusive index range maximising mean inside minus mean outside.

    Windows shorter than ``min_len`` are not considered; the whole sequence only when nothing
    shorter is allowed (its contrast is then 0). Ties go to the shorter, then the earlier window.
    """
    s = np.asarray(sims, dtype=np.float64)
    n = len(s)
    if n == 0:
        raise ValueError("no similarities to search")
    lo = max(1, min(min_len, n))
    if lo >= n:
        return 0, n - 1, 0.0
    csum = np.concatenate([[0.0], np.cumsum(s)])
    total = csum[-1]
    best = (-math.inf, 0, 0)
    for length in range(lo, n):
        starts = np.arange(0, n - length + 1)
        inside = (csum[starts + length] - csum[starts]) / length
        outside = (total - inside * length) / (n - length)
        contrast = inside - outside
        k = int(np.argmax(contrast))
        if contrast[k] > best[0] + 1e-12:
            best = (float(contrast[k]), int(starts[k]), int(starts[k] + length - 1))
    return best[1], best[2], best[0]


class ClipWindowGrounder(HFAdapter):
    family = "clip"

    def __init__(self, model: Any, processor: Any = None, *, min_len: int = 2, threshold: float | None = None,
                 batch_size: int = 16, name: str = "clip-window") -> None:
        self._bind(model, processor)
        self.min_len = int(min_len)
        self.threshold = threshold
        self.batch_size = int(batch_size)
        self.name = name
        # the questions of a video share frames and queries: each frame's image embedding and each
        # query's text embedding are computed once (keyed by the frame's content, by the text)
        self._images: FrameMemo[torch.Tensor] = FrameMemo()
        self._texts: FrameMemo[torch.Tensor] = FrameMemo(limit=4096)

    @staticmethod
    def model_class() -> Any:
        from transformers import CLIPModel

        return CLIPModel

    def settings(self) -> dict[str, Any]:
        return {"min_len": self.min_len, "threshold": self.threshold}

    @torch.no_grad()
    def similarities(self, clip: Clip, query: str) -> np.ndarray:
        """Cosine similarity of each frame of the clip with ``query``, in id order."""
        model, proc = self.model_and_processing()
        param = next(model.parameters())

        def text_embedding(_: list[int]) -> list[torch.Tensor]:
            length = int(model.config.text_config.max_position_embeddings)
            tok = proc.tokenizer([query], padding=True, truncation=True, max_length=length, return_tensors="pt")
            return [_embedding(model.get_text_features(input_ids=tok["input_ids"].to(param.device),
                                                       attention_mask=tok["attention_mask"].to(param.device)))[0]]

        def image_embeddings(missing: list[int]) -> list[torch.Tensor]:
            frames = clip.sampled.frames[[clip.ids[i] for i in missing]]
            out = []
            for at in range(0, len(frames), self.batch_size):
                pixels = proc.prep(frames[at : at + self.batch_size], param.device, param.dtype)
                out.extend(_embedding(model.get_image_features(pixel_values=pixels)))
            return out

        (text,) = self._texts.get([query], text_embedding)
        digests = clip.sampled.frame_digests()
        images = self._images.get([digests[i] for i in clip.ids], image_embeddings)
        return (torch.stack(images) @ text).cpu().numpy()

    def ground(self, clip: Clip, query: str) -> Window | None:
        sims = self.similarities(clip, query)
        i, j, contrast = best_window(sims, self.min_len)
        model, _ = self.model_and_processing()
        scale = float(model.logit_scale.detach().exp()) if hasattr(model, "logit_scale") else 100.0
        score = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, scale * contrast))))
        if self.threshold is not None and score < self.threshold:
            return None
        return Window(clip.ids[i], clip.ids[j], score)


def _embedding(out: Any) -> torch.Tensor:
    """transformers 5 returns an output whose ``pooler_output`` is the projected embedding; 4 a tensor."""
    emb = out if isinstance(out, torch.Tensor) else out.pooler_output
    emb = emb.float()
    return emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
