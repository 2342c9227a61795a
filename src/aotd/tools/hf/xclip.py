"""X-CLIP as a zero-shot ``ActionRecognizer`` over an action label list.

X-CLIP reads a fixed number of frames (8 for xclip-base-patch32): they are taken from the
middle of equal segments of the clip, repeated when the clip is shorter. Every label's text is
scored against the video (its text features are conditioned on the video, so nothing is cached
across clips) and the softmax over the labels ranks them; ``obj`` restricts the labels before
scoring. A clip-level model says what happens, not when: each ``Action``'s window is the clip.
"""

from __future__ import annotations

from typing import Any

import torch

from aotd.tools.clip import Clip
from aotd.tools.hf.adapter import HFAdapter
from aotd.tools.hf.labels import ActionLabel, for_object, labels_digest, require_labels
from aotd.tools.hf.prep import sample_indices
from aotd.tools.types import Action, Window


class XClipRecognizer(HFAdapter):
    family = "xclip"

    def __init__(self, model: Any, processor: Any = None, *, labels: list[ActionLabel], top_k: int = 5,
                 batch_size: int | None = None, name: str = "xclip") -> None:
        self._bind(model, processor)
        self.labels = require_labels(labels, name)
        self.top_k = int(top_k)
        # labels per forward pass; None: all at once (each pass runs the vision encoder again)
        self.batch_size = len(self.labels) if batch_size is None else int(batch_size)
        self.name = name

    @staticmethod
    def model_class() -> Any:
        from transformers import XCLIPModel

        return XCLIPModel

    def settings(self) -> dict[str, Any]:
        return {"labels": labels_digest(self.labels), "top_k": self.top_k}

    @torch.no_grad()
    def scores(self, clip: Clip, labels: list[ActionLabel]) -> torch.Tensor:
        """Softmax over ``labels`` of the clip's video-text logits."""
        model, proc = self.model_and_processing()
        param = next(model.parameters())
        frames = clip.frames()
        frames = frames[sample_indices(len(frames), int(model.config.vision_config.num_frames))]
        video = proc.prep(frames, param.device, param.dtype).unsqueeze(0)  # (1, T, 3, H, W)
        length = int(model.config.text_config.max_position_embeddings)
        logits = []
        for at in range(0, len(labels), self.batch_size):
            texts = [lab.text for lab in labels[at : at + self.batch_size]]
            tok = proc.tokenizer(texts, padding=True, truncation=True, max_length=length, return_tensors="pt")
            out = model(pixel_values=video, input_ids=tok["input_ids"].to(param.device),
                        attention_mask=tok["attention_mask"].to(param.device))
            logits.append(out.logits_per_video[0].float())
        return torch.cat(logits).softmax(dim=0)

    def recognize(self, clip: Clip, obj: str | None = None) -> list[Action]:
        labels = for_object(self.labels, obj)
        if not labels:
            return []
        probs = self.scores(clip, labels).tolist()
        order = sorted(range(len(labels)), key=lambda i: (-probs[i], i))[: self.top_k]
        return [Action(labels[i].verb, labels[i].obj, float(probs[i]), Window(clip.first, clip.last, float(probs[i])))
                for i in order]
