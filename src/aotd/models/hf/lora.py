"""Training modes: full fine-tuning of the language model, or LoRA adapters on it (PEFT).

The paper trains the language side with the vision encoder frozen. Full fine-tuning trains the
LM, its head and (by default) the vision->LM projector (LLaVA's ``multi_modal_projector`` and
``image_newline``, Qwen2-VL's patch ``merger``); LoRA trains its adapters alone. The adapters go
only on the LM's projections: a regex scoped to ``language_model`` keeps PEFT off the vision
encoders' identically named layers (Qwen2.5-VL's ViT has ``gate_proj``/``up_proj`` too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from aotd.models.hf.arch import ArchSpec

LM_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: tuple[str, ...] = LM_PROJECTIONS

    def config(self) -> LoraConfig:
        pattern = r".*\blanguage_model\..*\.(?:" + "|".join(self.targets) + ")"
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=pattern,
                          bias="none")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoraSettings:
        data = dict(data)
        data["targets"] = tuple(data.get("targets", LM_PROJECTIONS))
        return cls(**data)


def part_of(name: str, spec: ArchSpec) -> str:
    """"vision", "projector" or "language" for a parameter name of the unwrapped model."""
    if name.startswith(spec.projector_prefixes):
        return "projector"
    if name.startswith(spec.vision_prefixes):
        return "vision"
    return "language"


def set_full_training(model: torch.nn.Module, spec: ArchSpec, *, freeze_vision: bool = True,
                      train_projector: bool = True) -> None:
    """requires_grad for full fine-tuning: the LM always, the projector and encoder as asked."""
    parts = set()
    for name, param in model.named_parameters():
        part = part_of(name, spec)
        parts.add(part)
        frozen = (part == "vision" and freeze_vision) or (part == "projector" and not train_projector)
        param.requires_grad_(not frozen)
    if "vision" not in parts:  # transformers renamed a module: fail rather than train the encoder
        raise RuntimeError(f"no parameter of {type(model).__name__} starts with {spec.vision_prefixes}")


def apply_lora(model: torch.nn.Module, lora: LoraSettings, adapter: Path | None = None) -> PeftModel:
    """Wrap with fresh adapters, or with saved ones (trainable); PEFT freezes everything else."""
    for param in model.parameters():
        param.requires_grad_(False)
    if adapter is not None:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    return get_peft_model(model, lora.config())


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.get_base_model() if isinstance(model, PeftModel) else model


def base_state_dict(model: PeftModel) -> dict[str, torch.Tensor]:
    """The wrapped model's own weights under their original names, adapters left out."""
    state = unwrap(model).state_dict()
    return {k.replace(".base_layer.", "."): v for k, v in state.items() if ".lora_" not in k}
