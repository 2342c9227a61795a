"""Transformers students: LLaVA-NeXT-Video, LLaVA-OneVision, Qwen2-VL and Qwen2.5-VL behind one ``HFStudent``.

``load_hf_student`` opens a checkpoint (a hub id or directory with weights, or a directory an
``HFStudent`` saved); ``tiny_hf_student`` builds a tiny random instance and a tiny tokenizer for
offline tests. Both set the paper's training mode: the language model trained (fully, or LoRA
adapters through PEFT), the vision encoder frozen.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoTokenizer
from transformers.utils import cached_file

from aotd.models.hf.arch import ARCHS, ArchSpec, arch_spec, default_prep, spec_for_config
from aotd.models.hf.configs import TINY, TINY_PIXELS, build_config, tiny_tokenizer, token_ids
from aotd.models.hf.lora import LoraSettings, apply_lora, set_full_training
from aotd.models.hf.student import HFStudent
from aotd.models.hf.vision import VideoPrep
from aotd.models.student import MARKER

__all__ = ["ARCHS", "HFStudent", "LoraSettings", "load_hf_student", "tiny_hf_student", "train_mode"]

DEFAULT_MAX_LENGTH = 8192  # 32 frames are 4608 (NeXT-Video), 6273 (OneVision), ~3k (Qwen2-VL) video tokens
DEFAULT_FRAMES = 32


def train_mode(model: torch.nn.Module, spec: ArchSpec, lora: LoraSettings | None, *, freeze_vision: bool = True,
               train_projector: bool = True, adapter: Path | None = None) -> torch.nn.Module:
    """Set requires_grad for full fine-tuning, or wrap in (fresh or saved) LoRA adapters."""
    if lora is None:
        set_full_training(model, spec, freeze_vision=freeze_vision, train_projector=train_projector)
        return model
    return apply_lora(model, lora, adapter)


def _preprocessor(name_or_path: str) -> dict[str, Any]:
    """The checkpoint's (video) processor config, for its mean/std; {} when it has none."""
    for filename in ("video_preprocessor_config.json", "preprocessor_config.json"):
        try:
            path = cached_file(name_or_path, filename, _raise_exceptions_for_missing_entries=False)
        except (OSError, ValueError):
            path = None
        if path:
            data: dict[str, Any] = json.loads(Path(path).read_text())
            return data
    return {}


def load_hf_student(name_or_path: str | Path, *, arch: str | None = None, lora: LoraSettings | None = None,
                    freeze_vision: bool = True, train_projector: bool = True, max_length: int | None = None,
                    num_frames: int | None = None, dtype: torch.dtype | str | None = None,
                    device: str | torch.device | None = None) -> HFStudent:
    """A student from a checkpoint, or from a directory ``HFStudent.save`` wrote.

    ``max_length`` and ``num_frames`` default to the saved student's, else 8192 and 32. A saved
    LoRA student comes back with its adapter, trainable; ``lora`` adds fresh adapters to a
    checkpoint without one. ``dtype`` None keeps the checkpoint's.
    """
    source = str(name_or_path)
    meta_path = Path(source) / MARKER
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    adapter: Path | None = None
    base: str | None = None
    weights = source
    if meta.get("lora"):
        if lora is not None:
            raise ValueError(f"{source} already holds a LoRA adapter; load it without lora=")
        lora = LoraSettings.from_dict(meta["lora"])
        adapter = Path(source) / "adapter"
        local = Path(source) / meta["base"]
        base = weights = str(local.resolve()) if local.exists() else meta["base"]
    elif lora is not None:
        base = str(Path(source).resolve()) if Path(source).exists() else source
    config = AutoConfig.from_pretrained(weights)
    spec = spec_for_config(config)
    for wanted in (meta.get("arch"), arch):
        if wanted is not None and arch_spec(wanted).model_type != spec.model_type:
            raise ValueError(f"{source} is a {config.model_type} model, not {wanted}")
    kwargs = {"dtype": getattr(torch, dtype) if isinstance(dtype, str) else dtype} if dtype is not None else {}
    model = spec.cls.from_pretrained(weights, **kwargs)
    if device is not None:
        model.to(device)
    model = train_mode(model, spec, lora, freeze_vision=freeze_vision, train_projector=train_projector,
                       adapter=adapter)
    tokenizer = AutoTokenizer.from_pretrained(source)
    prep = VideoPrep.from_dict(meta["prep"]) if "prep" in meta else default_prep(spec, config, _preprocessor(source))
    return HFStudent(spec, model, tokenizer, prep, lora=lora, base=base, name=meta.get("name"),
                     max_length=max_length or meta.get("max_length") or DEFAULT_MAX_LENGTH,
                     num_frames=num_frames or meta.get("num_frames") or DEFAULT_FRAMES)


def tiny_hf_student(arch: str, *, lora: LoraSettings | None = None, seed: int = 0, max_length: int = 2048,
                    num_frames: int = DEFAULT_FRAMES) -> HFStudent:
    """A random two-layer, hidden-32 instance with a tiny byte-level tokenizer; frames go to 16x16."""
    spec = arch_spec(arch)
    tokenizer = tiny_tokenizer(spec)
    text, vision = TINY[arch]
    config = build_config(spec, dict(text, vocab_size=len(tokenizer)), vision, token_ids(tokenizer, spec.specials))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = train_mode(spec.cls(config), spec, lora)
    prep = default_prep(spec, config)
    if spec.qwen:
        prep = dataclasses.replace(prep, min_pixels=TINY_PIXELS, max_pixels=TINY_PIXELS)
    return HFStudent(spec, model, tokenizer, prep, lora=lora, max_length=max_length, num_frames=num_frames,
                     name=f"tiny-{arch}")
