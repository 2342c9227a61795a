"""Image preprocessing for the transformers tools, in torch, without torchvision.

transformers 5 ships each image processor twice: a torchvision backend (torchvision breaks
this environment) and a PIL backend (OWLv2's needs scipy, which is not installed, and works
one image at a time on the CPU). The four layouts the tool models need are a few lines of
``torch.nn.functional.interpolate`` instead, run batched on the model's device:

* ``resize``        stretch to height x width (OWL-ViT: 768 x 768);
* ``pad-square``    pad bottom/right to a square with black 0.0 (OWLv2's own code and transformers 5, PR
                    #41938; the grey 0.5 of transformers 4 was OWL-ViT v1's and costs LVIS AP), then blur
                    when shrinking and resize, as ``Owlv2ImageProcessor.resize`` (OWLv2: 960 x 960);
* ``shortest-edge`` keep the aspect, shortest edge to N, longest at most M (Grounding DINO: 800 / 1333);
* ``crop``          shortest edge to N, then a centre crop (CLIP, X-CLIP: 224).

Sizes, mean/std and resampling come from the checkpoint's ``preprocessor_config.json`` when it
has one (``ImagePrep.from_dict``), else from the family's published defaults.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")

Mode = Literal["resize", "pad-square", "shortest-edge", "crop"]
_RESAMPLE = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bicubic"}  # PIL codes
_TYPES = {"owl-vit": "OwlViTImageProcessor", "owlv2": "Owlv2ImageProcessor",
          "grounding-dino": "GroundingDinoImageProcessor", "clip": "CLIPImageProcessor",
          "xclip": "VideoMAEImageProcessor"}


@dataclass(frozen=True)
class ImagePrep:
    """How frames become ``pixel_values``; ``height``/``width`` are the output (crop) size."""

    mode: Mode
    height: int
    width: int
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    resample: str = "bilinear"
    shortest_edge: int | None = None  # shortest-edge and crop modes
    longest_edge: int | None = None  # shortest-edge mode
    pad_value: float = 0.0  # pad-square mode, in [0, 1] before normalising

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of one preprocessed frame of ``height`` x ``width``."""
        if self.mode != "shortest-edge":
            return self.height, self.width
        return _shortest_edge(height, width, self.shortest_edge or self.height, self.longest_edge)

    def __call__(self, frames: np.ndarray, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(n, H, W, 3) uint8 frames as normalised (n, 3, h, w) ``dtype`` pixels on ``device``."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (n, H, W, 3), got {frames.shape}")
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float().div_(255)
        h, w = x.shape[-2:]
        if self.mode == "pad-square":
            side = max(h, w)
            x = F.pad(x, (0, side - w, 0, side - h), value=self.pad_value)
            x = self._resize_gaussian(x, self.height, self.width)
        elif self.mode == "resize":
            x = self._resize(x, self.height, self.width)
        elif self.mode == "shortest-edge":
            x = self._resize(x, *self.output_size(h, w))
        else:  # crop
            x = self._resize(x, *_shortest_edge(h, w, self.shortest_edge or min(self.height, self.width), None))
            top, left = max(0, (x.shape[-2] - self.height) // 2), max(0, (x.shape[-1] - self.width) // 2)
            x = x[..., top : top + self.height, left : left + self.width]
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(dtype)

    def _resize(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        if (h, w) == tuple(x.shape[-2:]):
            return x
        if self.resample == "nearest":
            return F.interpolate(x, size=(h, w), mode="nearest")
        x = F.interpolate(x, size=(h, w), mode=self.resample, align_corners=False, antialias=True)
        return x.clamp_(0.0, 1.0)  # bicubic overshoots; PIL clips to uint8 too

    def _resize_gaussian(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """OWLv2's (scikit-image's) resize: blur with sigma (factor - 1) / 2 when shrinking, then no antialias.

        As ``Owlv2ImageProcessor.resize``: a ``2 * ceil(3 sigma) + 1`` tap Gaussian with reflected
        borders (torchvision's ``gaussian_blur``), then ``resample`` at pixel centres.
        """
        if (h, w) == tuple(x.shape[-2:]):
            return x
        for dim, size in ((-2, h), (-1, w)):
            sigma = (x.shape[dim] / size - 1) / 2
            if sigma <= 0:
                continue
            radius = math.ceil(3 * sigma)
            taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
            kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
            kernel = (kernel / kernel.sum()).view((1, 1, -1, 1) if dim == -2 else (1, 1, 1, -1))
            pad = (0, 0, radius, radius) if dim == -2 else (radius, radius, 0, 0)
            x = F.conv2d(F.pad(x, pad, mode="reflect"), kernel.expand(x.shape[1], 1, -1, -1), groups=x.shape[1])
        corners = {} if self.resample == "nearest" else {"align_corners": False}
        return F.interpolate(x, size=(h, w), mode=self.resample, **corners).clamp_(0.0, 1.0)

    # --- the checkpoint's preprocessor_config.json ------------------------------------
    @classmethod
    def default(cls, family: str) -> ImagePrep:
        if family not in DEFAULTS:
            raise ValueError(f"no image preprocessing known for {family!r}; known: {', '.join(DEFAULTS)}")
        return DEFAULTS[family]

    @classmethod
    def from_dict(cls, family: str, data: dict[str, Any]) -> ImagePrep:
        """The family's layout with the sizes, mean/std and resampling a preprocessor config gives."""
        base = cls.default(family)
        if "image_processor" in data and isinstance(data["image_processor"], dict):  # processor_config.json
            data = data["image_processor"]
        changes: dict[str, Any] = {}
        if data.get("image_mean") is not None:
            changes["mean"] = tuple(float(v) for v in data["image_mean"])
        if data.get("image_std") is not None:
            changes["std"] = tuple(float(v) for v in data["image_std"])
        if isinstance(data.get("resample"), int):
            changes["resample"] = _RESAMPLE.get(data["resample"], base.resample)
        size = data.get("size")
        if isinstance(size, int):
            size = {"shortest_edge": size} if base.mode in ("crop", "shortest-edge") else {"height": size, "width": size}
        if isinstance(size, dict):
            if "height" in size and "width" in size and base.mode in ("resize", "pad-square"):
                changes.update(height=int(size["height"]), width=int(size["width"]))
            if "shortest_edge" in size:
                changes["shortest_edge"] = int(size["shortest_edge"])
                if base.mode == "shortest-edge":
                    changes.update(height=int(size["shortest_edge"]), width=int(size["shortest_edge"]))
            if size.get("longest_edge") is not None:
                changes["longest_edge"] = int(size["longest_edge"])
        crop = data.get("crop_size")
        if base.mode == "crop" and crop is not None:
            crop = {"height": crop, "width": crop} if isinstance(crop, int) else crop
            changes.update(height=int(crop["height"]), width=int(crop["width"]))
        return replace(base, **changes)

    def to_dict(self, family: str) -> dict[str, Any]:
        """A ``preprocessor_config.json`` in transformers' own format (for ``from_dict`` and AutoImageProcessor)."""
        codes = {"nearest": 0, "bilinear": 2, "bicubic": 3}
        out: dict[str, Any] = {"image_processor_type": _TYPES.get(family, "ImageProcessor"), "do_resize": True,
                               "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                               "image_mean": list(self.mean), "image_std": list(self.std),
                               "resample": codes.get(self.resample, 2)}
        if self.mode in ("resize", "pad-square"):
            out["size"] = {"height": self.height, "width": self.width}
            out["do_pad"] = self.mode == "pad-square"
        elif self.mode == "shortest-edge":
            out["size"] = {"shortest_edge": self.shortest_edge or self.height, "longest_edge": self.longest_edge}
        else:
            out["size"] = {"shortest_edge": self.shortest_edge or min(self.height, self.width)}
            out["do_center_crop"] = True
            out["crop_size"] = {"height": self.height, "width": self.width}
        return out


DEFAULTS: dict[str, ImagePrep] = {
    "owl-vit": ImagePrep("resize", 768, 768, resample="bicubic"),
    "owlv2": ImagePrep("pad-square", 960, 960, resample="bilinear"),
    "grounding-dino": ImagePrep("shortest-edge", 800, 800, IMAGENET_MEAN, IMAGENET_STD, shortest_edge=800,
                                longest_edge=1333),
    "clip": ImagePrep("crop", 224, 224, resample="bicubic", shortest_edge=224),
    "xclip": ImagePrep("crop", 224, 224, IMAGENET_MEAN, IMAGENET_STD, shortest_edge=224),
}


def _shortest_edge(h: int, w: int, shortest: int, longest: int | None) -> tuple[int, int]:
    """transformers' rule (``get_size_with_aspect_ratio``): the short side to ``shortest`` unless the long side
    would pass ``longest``; then the short side is ``longest``'s share, rounded, and the long side comes from the
    unrounded share (so it is ``longest``, not one less)."""
    short, long = min(h, w), max(h, w)
    scale: float = shortest
    if longest is not None and long / short * shortest > longest:
        scale = longest * short / long
        shortest = int(round(scale))
    if h <= w:
        return shortest, int(scale * w / h)
    return int(scale * h / w), shortest


@dataclass
class Processing:
    """A model's text tokenizer and image preprocessing: what ``save_pretrained`` writes beside the weights."""

    tokenizer: Any
    prep: ImagePrep
    family: str = field(default="")

    @classmethod
    def coerce(cls, processor: Any, family: str) -> Processing:
        """A ``Processing``, a transformers processor (``.tokenizer`` and ``.image_processor``) or a bare tokenizer."""
        if isinstance(processor, Processing):
            return processor
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            return cls(processor, ImagePrep.default(family), family)
        image = getattr(processor, "image_processor", None)
        prep = ImagePrep.from_dict(family, image.to_dict()) if image is not None else ImagePrep.default(family)
        return cls(tokenizer, prep, family)

    @classmethod
    def from_pretrained(cls, source: str, family: str) -> Processing:
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(source), ImagePrep.from_dict(family, read_preprocessor(source)), family)

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(directory)
        text = json.dumps(self.prep.to_dict(self.family), indent=2) + "\n"
        (directory / PREPROCESSOR_FILES[0]).write_text(text, encoding="utf-8")


def read_preprocessor(source: str) -> dict[str, Any]:
    """The checkpoint's image preprocessor settings (a local folder or the hub cache); {} when it has none."""
    from transformers.utils import cached_file

    for filename in PREPROCESSOR_FILES:
        try:
            path = cached_file(source, filename, _raise_exceptions_for_missing_entries=False)
        except (OSError, ValueError):
            path = None
        if path:
            data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
            return data
    return {}


def sample_indices(n: int, k: int) -> list[int]:
    """``k`` indices into ``n`` frames, one from the middle of each of ``k`` equal segments (repeats when n < k)."""
    if n <= 0 or k <= 0:
        raise ValueError(f"cannot sample {k} of {n} frames")
    return [min(n - 1, int((i + 0.5) * n / k)) for i in range(k)]
