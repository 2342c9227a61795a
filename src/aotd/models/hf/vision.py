"""Frames -> the pixel tensors each transformers student's forward takes, in torch alone.

transformers' own video processors import torchvision, which this project does not install, so
the three recipes are written out here: LLaVA-NeXT-Video resizes the short side and centre-crops
(its processor's ``crop_size``), LLaVA-OneVision squashes to a square, Qwen2-VL keeps the aspect
ratio at a multiple of ``patch_size * merge_size`` and flattens frames into temporal x spatial
patches in the order its ``PatchEmbed``/``PatchMerger`` expect.

Resized pixels stay uint8 (rounded, as the processors' PIL/torchvision resize leaves them) until
``normalise`` runs on the model's device: an encoded example is 4x smaller than in float32, and
a batch crosses to the GPU as bytes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)

Resize = Literal["crop", "square", "qwen"]


@dataclass(frozen=True)
class VideoPrep:
    """How one student turns frames into pixels; saved with the student, so it reloads unchanged."""

    resize: Resize
    size: int = 336  # crop/square side; must be the vision tower's image_size
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    patch_size: int = 14  # qwen only from here on
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 128 * 28 * 28  # per frame, as Qwen2-VL's video processor bounds it
    max_pixels: int = 360 * 420  # Qwen2-VL's suggested video budget: ~192 tokens per 2 frames
    fps: float = 2.0  # sampled frames per second, for Qwen2.5-VL's temporal positions

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoPrep:
        data = dict(data)
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(float(x) for x in data[key])
        return cls(**data)


def check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise ValueError(f"frames must be a uint8 array (T, H, W, 3), got {type(frames).__name__} {shape}")
    if frames.shape[0] == 0:
        raise ValueError("frames must hold at least one frame")


def resize_frames(frames: np.ndarray, height: int, width: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, height, width) uint8, bicubic with antialiasing (as PIL), rounded."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    if x.shape[-2:] == (height, width):
        return x.contiguous()
    y = F.interpolate(x.float(), size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def normalise(x: torch.Tensor, prep: VideoPrep, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 pixels -> (x / 255 - mean) / std, in ``dtype``: frames (..., 3, H, W), or Qwen patch
    rows (N, 3 * tps * p * p) whose slowest factor is the channel."""
    shape = x.shape
    y = (x.reshape(-1, 3, shape[-2] * shape[-1]) if x.ndim >= 4 else x.reshape(shape[0], 3, -1)).float()
    mean = torch.tensor(prep.mean, device=x.device).view(1, 3, 1)
    std = torch.tensor(prep.std, device=x.device).view(1, 3, 1)
    return ((y / 255.0 - mean) / std).to(dtype).reshape(shape)


def llava_frames(frames: np.ndarray, prep: VideoPrep) -> torch.Tensor:
    """(T, 3, size, size) uint8: short side to ``size`` then centre crop, or a plain squash to a square."""
    _, h, w, _ = frames.shape
    side = prep.size
    if prep.resize == "square":
        return resize_frames(frames, side, side)
    scale = side / min(h, w)
    nh, nw = max(side, round(h * scale)), max(side, round(w * scale))
    top, left = (nh - side) // 2, (nw - side) // 2
    return resize_frames(frames, nh, nw)[:, :, top : top + side, left : left + side].contiguous()


def smart_size(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's resize rule: both sides multiples of ``factor``, area in [min, max], aspect kept."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.0f} is over 200")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def qwen_patches(frames: np.ndarray, prep: VideoPrep) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Flattened uint8 patches (t*h*w, 3*tps*p*p) and the grid (t, h, w) in patches.

    Rows run over temporal groups, then merge windows (row-major), then the merge_size^2
    patches inside a window, so each PatchMerger group is contiguous, as Qwen2-VL's processor
    lays them out. An odd frame count repeats the last frame to fill the temporal patch.
    """
    p, m, tps = prep.patch_size, prep.merge_size, prep.temporal_patch_size
    _, height, width, _ = frames.shape
    rh, rw = smart_size(height, width, p * m, prep.min_pixels, prep.max_pixels)
    x = resize_frames(frames, rh, rw)
    if pad := -x.shape[0] % tps:
        x = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)])
    gt, gh, gw = x.shape[0] // tps, rh // p, rw // p
    x = x.view(gt, tps, 3, gh // m, m, p, gw // m, m, p)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # t, h/m, w/m, m, m, C, tps, p, p
    return x.reshape(gt * gh * gw, 3 * tps * p * p).contiguous(), (gt, gh, gw)
