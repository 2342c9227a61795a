"""Students: models that read 32 frames and a prompt and write an answer or a rationale.

``build_student`` makes the one a config names (continuing from ``resume_dir`` when a run
saved one there); ``load_student`` opens any saved student by the marker file it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

from aotd.config import DistillConfig
from aotd.errors import AotdError
from aotd.models.student import MARKER, Student

__all__ = ["build_student", "load_student"]


def build_student(cfg: DistillConfig) -> Student:
    """A fresh student as ``cfg`` describes: the embedded one from scratch, a transformers one
    from its pretrained weights (full fine-tuning or LoRA, vision tower frozen)."""
    if cfg.student == "embedded":
        from aotd.embedded.student.model import EmbeddedStudent, EmbeddedStudentConfig
        from aotd.embedded.student.vision import VisionTower

        return EmbeddedStudent(VisionTower.pretrained(), EmbeddedStudentConfig(seed=cfg.train.seed))
    from aotd.models.hf import LoraSettings, load_hf_student

    if not cfg.model:
        raise AotdError(f"distill.model is required for distill.student: {cfg.student} (a local directory or hub id)")
    student = load_hf_student(cfg.model, arch=cfg.student, lora=LoraSettings() if cfg.lora else None,
                              freeze_vision=cfg.freeze_vision, dtype=cfg.dtype)
    if cfg.gradient_checkpointing:
        student.enable_gradient_checkpointing()
    return student


def load_student(directory: Path) -> Student:
    marker = directory / MARKER
    if not marker.is_file():
        raise AotdError(f"{directory}: not a saved student (no {MARKER}); pass the model/ folder of a training run")
    try:
        kind = json.loads(marker.read_text()).get("kind")
        if kind == "embedded":
            from aotd.embedded.student.model import EmbeddedStudent

            return EmbeddedStudent.load(directory)
        from aotd.models.hf import load_hf_student

        return load_hf_student(str(directory))
    except AotdError:
        raise
    except (ValueError, KeyError, OSError, RuntimeError, AttributeError) as exc:  # torn or foreign files
        raise AotdError(f"{directory}: cannot load the saved student ({type(exc).__name__}: {str(exc)[:300]}); "
                        "pass the model/ folder that `aotd distill train` wrote") from None
