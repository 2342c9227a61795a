"""``HFStudent``: the ``Student`` protocol over a transformers Video-LLM (see ``hf_arch`` for the families).

An example is ``[bos] chat-head <video>xN prompt chat-tail | target end``: everything left of
``|`` (chat markers and the N video placeholder tokens included) is IGNORE, the target and the
token ending the assistant turn carry the example's segment. Prompt and target are tokenized
apart, so the split is exact whatever the tokenizer merges across it.

Examples and batches carry resized uint8 pixels (``video_frames`` (B, T, 3, S, S) for LLaVA,
``video_patches`` (sum of patches, 3*tps*p*p) for Qwen2-VL); ``logits`` normalises them on the
model's device into ``pixel_values_videos``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import GenerationConfig

from aotd.models.hf.arch import ArchSpec, video_token_count
from aotd.models.hf.configs import token_ids
from aotd.models.hf.lora import LoraSettings, base_state_dict, part_of, unwrap
from aotd.models.hf.vision import VideoPrep, check_frames, llava_frames, normalise, qwen_patches
from aotd.models.student import ANSWER, IGNORE, MARKER, RATIONALE, Example

log = logging.getLogger(__name__)
MODEL_KEYS = ("input_ids", "attention_mask", "video_grid_thw", "mm_token_type_ids", "second_per_grid_ts")


class HFStudent:
    """A transformers Video-LLM as a student; ``model`` is what the optimizer sees (a PeftModel under LoRA).

    ``keep_examples`` is False: an example holds 32 preprocessed frames (megabytes), so the
    trainer encodes each again when its batch comes instead of keeping them all.

    A trainer may swap ``model`` for a wrapper of it (DDP, accelerate); config, dtypes and
    ``save`` use the module handed in here, so they keep working.
    """

    keep_examples = False

    def __init__(self, spec: ArchSpec, model: torch.nn.Module, tokenizer: Any, prep: VideoPrep, *,
                 max_length: int, num_frames: int, lora: LoraSettings | None = None, base: str | None = None,
                 name: str | None = None) -> None:
        self.spec = spec
        self.model = model
        self._module = model  # the PeftModel or PreTrainedModel itself, whatever wraps self.model later
        self.tokenizer = tokenizer
        self.prep = prep
        self.max_length = max_length
        self.num_frames = num_frames
        self.lora = lora
        self.base = base  # where the frozen base weights of a LoRA student live (None: save them too)
        self.name = name or spec.name
        ids = token_ids(tokenizer, (spec.layout.video, spec.layout.end))
        self.video_id, self.end_id = ids[spec.layout.video], ids[spec.layout.end]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.end_id
        config = self.config
        if config.video_token_id != self.video_id:
            raise ValueError(f"the tokenizer's {spec.layout.video} is id {self.video_id} but the model "
                             f"expects {config.video_token_id}")
        log.info(self.describe())

    # ----- what the model is -----
    @property
    def base_model(self) -> torch.nn.Module:
        return unwrap(self._module)

    @property
    def config(self) -> Any:
        return self.base_model.config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def vision_dtype(self) -> torch.dtype:
        for name, param in self.base_model.named_parameters():
            if part_of(name, self.spec) == "vision":
                return param.dtype
        return torch.float32

    def parameter_counts(self) -> dict[str, int]:
        """Parameters by part (vision / projector / language, adapters counted as language)."""
        counts = {"total": 0, "trainable": 0, "vision": 0, "projector": 0, "language": 0}
        for name, param in self.base_model.named_parameters():
            n = param.numel()
            counts["total"] += n
            counts["trainable"] += n if param.requires_grad else 0
            counts[part_of(name, self.spec)] += n
        return counts

    def describe(self) -> str:
        c = self.parameter_counts()
        mode = f"LoRA r={self.lora.r}" if self.lora else "full fine-tuning"
        return (f"{self.name} ({mode}): {c['trainable']:,} of {c['total']:,} parameters trainable "
                f"(vision {c['vision']:,}, projector {c['projector']:,}, language {c['language']:,})")

    def enable_gradient_checkpointing(self) -> None:
        """Recompute activations in backward (non-reentrant, so frozen embeddings need no hook)."""
        self.base_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    # ----- encoding -----
    def _check_text(self, text: str, what: str) -> None:
        for token in self.spec.specials:
            if token in text:
                raise ValueError(f"the {what} contains the reserved token {token!r}")

    def _text_ids(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        unk = self.tokenizer.unk_token_id
        if unk is not None and unk in ids:
            raise ValueError(f"the tokenizer cannot write {text[:60]!r} (unknown token)")
        return ids

    def visual(self, frames: np.ndarray) -> tuple[dict[str, torch.Tensor], int]:
        """One video's resized uint8 pixels (and grid), and how many placeholder tokens they fill."""
        check_frames(frames)
        if frames.shape[0] != self.num_frames:
            raise ValueError(f"{self.name} reads {self.num_frames} frames, got {frames.shape[0]}")
        if not self.spec.qwen:
            pixels = llava_frames(frames, self.prep)
            return {"video_frames": pixels}, video_token_count(self.spec, self.config, len(pixels))
        patches, grid = qwen_patches(frames, self.prep)
        out = {"video_patches": patches, "video_grid_thw": torch.tensor(grid, dtype=torch.long)}
        if self.spec.name == "qwen2.5-vl":
            out["second_per_grid_ts"] = torch.tensor(self.prep.temporal_patch_size / self.prep.fps)
        return out, video_token_count(self.spec, self.config, frames.shape[0], grid)

    def prompt_ids(self, prompt: str, video_tokens: int) -> list[int]:
        """The chat-formatted prompt up to the assistant's first token, the video expanded."""
        self._check_text(prompt, "prompt")
        layout = self.spec.layout
        ids = self._text_ids(layout.text(prompt))
        if ids.count(self.video_id) != 1:
            raise ValueError(f"the chat layout must hold one {layout.video}, found {ids.count(self.video_id)}")
        at = ids.index(self.video_id)
        ids = ids[:at] + [self.video_id] * video_tokens + ids[at + 1 :]
        return ([self.tokenizer.bos_token_id] if layout.bos else []) + ids

    def encode(self, frames: np.ndarray, prompt: str, target: str, segment: int) -> Example:
        if segment not in (ANSWER, RATIONALE):
            raise ValueError(f"segment must be ANSWER ({ANSWER}) or RATIONALE ({RATIONALE}), got {segment}")
        self._check_text(target, "target")
        visual, video_tokens = self.visual(frames)
        prompt_ids = self.prompt_ids(prompt, video_tokens)
        target_ids = self._text_ids(target) + [self.end_id]
        n = len(prompt_ids) + len(target_ids)
        if n > self.max_length:
            raise ValueError(f"example is {n} tokens ({video_tokens} video, {len(prompt_ids) - video_tokens} prompt, "
                             f"{len(target_ids)} target), over {self.name}'s max_length of {self.max_length}")
        return Example(prompt_ids + target_ids, [IGNORE] * len(prompt_ids) + [segment] * len(target_ids), visual)

    def collate(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        """Right-padded ids, segments (padding IGNORE), attention mask, and the batched uint8 pixels."""
        if not examples:
            raise ValueError("cannot collate an empty batch")
        width = max(len(e.input_ids) for e in examples)
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        segments = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for i, e in enumerate(examples):
            n = len(e.input_ids)
            ids[i, :n] = torch.tensor(e.input_ids)
            segments[i, :n] = torch.tensor(e.segments)
            mask[i, :n] = 1
        batch = {"input_ids": ids, "segments": segments, "attention_mask": mask}
        if not self.spec.qwen:  # (B, frames, 3, S, S)
            batch["video_frames"] = torch.stack([e.visual["video_frames"] for e in examples])
            return batch
        batch["video_patches"] = torch.cat([e.visual["video_patches"] for e in examples])  # one grid row per video
        batch["video_grid_thw"] = torch.stack([e.visual["video_grid_thw"] for e in examples])
        batch["mm_token_type_ids"] = (ids == self.video_id).int() * 2  # M-RoPE: 0 text, 2 video
        if self.spec.name == "qwen2.5-vl":
            batch["second_per_grid_ts"] = torch.stack([e.visual["second_per_grid_ts"] for e in examples])
        return batch

    # ----- running -----
    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The forward's keyword arguments on the model's device, pixels normalised there."""
        device = self.device
        inputs = {k: batch[k].to(device) for k in MODEL_KEYS if k in batch}
        pixels = batch["video_patches" if self.spec.qwen else "video_frames"].to(device)
        inputs["pixel_values_videos"] = normalise(pixels, self.prep, self.vision_dtype)
        return inputs

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(**self.model_inputs(batch), use_cache=False).logits

    @torch.no_grad()
    def generate_ids(self, frames: np.ndarray, prompt: str, max_new_tokens: int = 256) -> list[int]:
        """Greedy continuation of the assistant turn; stops after the end-of-turn token."""
        visual, video_tokens = self.visual(frames)
        ids = self.prompt_ids(prompt, video_tokens)
        room = self.max_length - len(ids)
        if room <= 0:
            raise ValueError(f"prompt is {len(ids)} tokens, no room left under max_length {self.max_length}")
        inputs = self.model_inputs(self.collate([Example(ids, [IGNORE] * len(ids), visual)]))
        config = GenerationConfig(max_new_tokens=min(max_new_tokens, room), do_sample=False,
                                  eos_token_id=self.end_id, pad_token_id=self.pad_id)
        module = self._module  # not a DDP wrapper, which has no generate
        training = module.training
        module.eval()
        try:
            out = module.generate(**inputs, generation_config=config)
        finally:
            module.train(training)
        return out[0, len(ids) :].tolist()

    def generate(self, frames: np.ndarray, prompt: str, max_new_tokens: int = 256) -> str:
        ids = self.generate_ids(frames, prompt, max_new_tokens)
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()

    # ----- saving -----
    def settings(self) -> dict[str, Any]:
        return {"kind": self.spec.name, "arch": self.spec.name, "name": self.name, "max_length": self.max_length,
                "num_frames": self.num_frames, "prep": self.prep.to_dict(),
                "lora": self.lora.to_dict() if self.lora else None, "base": self.base}

    def save(self, directory: Path) -> None:
        """Config + weights (full) or adapter + base reference (LoRA), tokenizer, ``aotd_student.json``.

        A LoRA student whose base weights came from nowhere on disk (a tiny random model) saves
        them under ``base/``; otherwise the adapter alone is saved and the base is referenced.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = self.settings()
        if self.lora is None:
            self._module.save_pretrained(directory)
        else:
            self._module.save_pretrained(directory / "adapter")
            if self.base is None:
                self.base_model.save_pretrained(directory / "base", state_dict=base_state_dict(self._module))
                meta["base"] = "base"
        self.tokenizer.save_pretrained(directory)
        (directory / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
