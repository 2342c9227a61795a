"""``CNNDetector``: a small CenterNet-style detector trained here on rendered frames — the strong candidate.

Frames are average-pooled to half size (colour is the main cue and pooling halves the pixel
noise) and a four-level conv net with a top-down path predicts, on a stride-8 grid of the
original frame, one centre heatmap per class plus box size (log pixels) and sub-cell centre
offset. A class is unique in a scene, so a query takes its heatmap's peak per frame.

Training reads a generated world's key frames with their STAR boxes; inference reads pixels
only. ``CNNDetector.load()`` trains the default model once (about two minutes on two cores)
and caches it under the user cache folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from aotd.data.keyframes import BoxTuple, annotated_keyframes
from aotd.embedded.tools.color_detector import resolve_class
from aotd.embedded.tools.weights import weights_file
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.vocab import DETECTABLE
from aotd.tools.clip import Clip
from aotd.tools.memo import FrameMemo, one_thread
from aotd.tools.types import Box

MODEL_FILE = "detector_cnn_v2.pt"  # v2: the world has apple and banana
FORMAT = "aotd-cnn-detector/1"
STRIDE = 8  # output cell size in original pixels
POOL = 2  # input downsampling before the net
TRAIN_SEED_WORLD = 20_240  # the default training world: fixed, and not any seed the benchmarks evaluate on
DEFAULT_VIDEOS = 120
DEFAULT_EPOCHS = 6
_BATCH = 16
_LR = 3e-3
_MIN_SCORE = 0.3


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CenterNet(nn.Module):
    """Stride-8 outputs (a heatmap per class, 2 log-size, 2 offset) over a 3-level feature pyramid."""

    def __init__(self, classes: int, width: tuple[int, int, int, int] = (24, 32, 48, 64)) -> None:
        super().__init__()
        c0, c1, c2, c3 = width
        self.level1 = nn.Sequential(_conv(3, c0, 2), _conv(c0, c1, 2))  # 1/4 of the pooled input
        self.level2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.level3 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3, dilation=2))
        self.lateral2, self.lateral1 = nn.Conv2d(c2, c2, 1), nn.Conv2d(c1, c1, 1)
        self.up3, self.up2 = _conv(c3, c2), _conv(c2, c1)
        self.head = nn.Sequential(_conv(c1, c1), nn.Conv2d(c1, classes + 4, 1))
        self.head[-1].bias.data[:classes] = -4.0  # start from "no object anywhere" (focal-loss prior)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's outputs and the deepest feature map (what a student's vision tower reads)."""
        f1 = self.level1(x)
        f2 = self.level2(f1)
        f3 = self.level3(f2)
        u = F.interpolate(self.up3(f3), size=f2.shape[-2:]) + self.lateral2(f2)
        u = F.interpolate(self.up2(u), size=f1.shape[-2:]) + self.lateral1(f1)
        return self.head(u), f3


def _pool(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 frames -> (N, 3, H/POOL, W/POOL) uint8, the net's input pixels."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    return F.avg_pool2d(x, POOL).round().to(torch.uint8)


def net_input(pooled: torch.Tensor) -> torch.Tensor:
    """Pooled uint8 pixels as the net reads them (the detector and the student's tower alike)."""
    return (pooled.float() - 128.0) / 64.0


# --------------------------------------------------------------------------- training


def _targets(boxes: list[dict[str, BoxTuple]], grid: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Gaussian centre heatmaps, and per object its centre cell, log size and offset."""
    gh, gw = grid
    heat = torch.zeros(len(boxes), len(DETECTABLE), gh, gw)
    ys, xs = torch.arange(gh, dtype=torch.float32)[:, None], torch.arange(gw, dtype=torch.float32)[None, :]
    index, cells, size, offset = [], [], [], []
    for n, frame_boxes in enumerate(boxes):
        for cls, (x1, y1, x2, y2) in frame_boxes.items():
            k = DETECTABLE.index(cls)
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            ix, iy = min(int(cx), gw - 1), min(int(cy), gh - 1)
            sx, sy = max(0.5, (x2 - x1) / STRIDE / 6), max(0.5, (y2 - y1) / STRIDE / 6)
            g = torch.exp(-((xs - ix) ** 2) / (2 * sx**2) - ((ys - iy) ** 2) / (2 * sy**2))
            heat[n, k] = torch.maximum(heat[n, k], g)
            index.append(n)
            cells.append(iy * gw + ix)
            size.append((np.log(max(x2 - x1, 1.0)), np.log(max(y2 - y1, 1.0))))
            offset.append((cx - ix, cy - iy))
    return {"heat": heat, "index": torch.tensor(index, dtype=torch.long), "cell": torch.tensor(cells, dtype=torch.long),
            "size": torch.tensor(size, dtype=torch.float32).reshape(-1, 2),
            "offset": torch.tensor(offset, dtype=torch.float32).reshape(-1, 2)}


def _focal(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of objects."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * pos).sum()
    neg_loss = -(torch.log(1 - p) * p**2 * (1 - heat) ** 4 * (1 - pos)).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1)


def _loss(out: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    k = len(DETECTABLE)
    loss = _focal(out[:, :k], t["heat"])
    if len(t["index"]):
        regs = out[:, k:].flatten(2)[t["index"], :, t["cell"]]  # (objects, 4)
        loss = loss + F.l1_loss(regs[:, :2], t["size"]) + F.l1_loss(regs[:, 2:], t["offset"])
    return loss


def _flip(boxes: list[dict[str, BoxTuple]], width: int) -> list[dict[str, BoxTuple]]:
    """The boxes of horizontally mirrored frames."""
    return [{c: (width - b[2], b[1], width - b[0], b[3]) for c, b in fb.items()} for fb in boxes]


def _load_training_frames(world_dir: Path, videos: int) -> tuple[torch.Tensor, list[dict[str, BoxTuple]]]:
    """Pooled key frames (kept as uint8: a few thousand fit in ~200 MB) and their boxes,
    from the world's first ``videos`` videos, all splits."""
    frames, boxes = [], []
    for kf in annotated_keyframes(world_dir)[:videos]:
        frames.append(_pool(Clip(kf.sampled(), kf.video_id).frames()))
        boxes.extend(kf.boxes)
    return torch.cat(frames), boxes


def train_cnn_detector(out_path: str | Path, *, world_dir: str | Path | None = None, videos: int = DEFAULT_VIDEOS,
                       epochs: int = DEFAULT_EPOCHS, seed: int = 0, progress: bool = True) -> Path:
    """Train on a world's key frames and save the model to ``out_path``; returns the path.

    Without ``world_dir`` a ``videos``-video world (noise medium, seed ``TRAIN_SEED_WORLD``)
    is generated in a temporary folder; with it, its first ``videos`` videos are used.
    """
    started = time.perf_counter()
    def log(msg: str) -> None:
        if progress:
            print(f"[cnn detector] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="aotd-detector-") as tmp:
        if world_dir is None:
            log(f"generating a {videos}-video training world")
            world_dir = Path(tmp) / "world"
            generate_world(WorldConfig(out=world_dir, videos=videos, seed=TRAIN_SEED_WORLD, noise=0.5,
                                       workers=max(1, min(4, os.cpu_count() or 1))), progress=False)
        frames, boxes = _load_training_frames(Path(world_dir), videos)
    log(f"training on {len(frames)} key frames for {epochs} epochs")
    with one_thread():
        model, history = _fit(frames, boxes, epochs, seed, log)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {"format": FORMAT, "classes": list(DETECTABLE), "stride": STRIDE, "pool": POOL,
                  "train": {"seed": seed, "frames": len(frames), "epochs": epochs, "loss": history,
                            "seconds": round(time.perf_counter() - started, 1)},
                  "state_dict": model.state_dict()}
    fd, tmp_file = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.fchmod(fd, 0o644)
    os.close(fd)
    try:
        torch.save(checkpoint, tmp_file)
        os.replace(tmp_file, out)
    finally:
        Path(tmp_file).unlink(missing_ok=True)
    log(f"saved {out} after {checkpoint['train']['seconds']} s")
    return out


def _fit(frames: torch.Tensor, boxes: list[dict[str, BoxTuple]], epochs: int, seed: int,
         log: Callable[[str], None]) -> tuple[CenterNet, list[float]]:
    """Adam with a one-cycle schedule; flips and lighting jitter as augmentation. Deterministic."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = CenterNet(len(DETECTABLE))
    steps = epochs * max(1, -(-len(frames) // _BATCH))
    opt = torch.optim.AdamW(model.parameters(), lr=_LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=_LR, total_steps=steps, pct_start=0.15)
    height, width = frames.shape[2] * POOL, frames.shape[3] * POOL
    grid = (height // STRIDE, width // STRIDE)
    history = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(frames), generator=gen)
        total = 0.0
        for start in range(0, len(frames), _BATCH):
            idx = order[start : start + _BATCH]
            x = net_input(frames[idx])
            batch_boxes = [boxes[i] for i in idx.tolist()]
            if torch.rand(1, generator=gen).item() < 0.5:
                x, batch_boxes = x.flip(-1), _flip(batch_boxes, width)
            gain = 1 + 0.15 * (2 * torch.rand(len(x), 1, 1, 1, generator=gen) - 1)
            tint = 0.15 * (2 * torch.rand(len(x), 3, 1, 1, generator=gen) - 1)
            loss = _loss(model(x * gain + tint), _targets(batch_boxes, grid))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        history.append(round(total / len(frames), 4))
        log(f"epoch {epoch + 1}/{epochs}: loss {history[-1]}")
    return model.eval(), history


# --------------------------------------------------------------------------- inference


class CNNDetector:
    """Trained centre-heatmap detector; decodes every class of a frame at once and remembers it."""

    name = "cnn"

    def __init__(self, model: CenterNet, min_score: float = _MIN_SCORE) -> None:
        self.model = model.eval()
        self.min_score = min_score
        self._frames: FrameMemo[np.ndarray] = FrameMemo()  # every question of a video: each frame once

    @classmethod
    def load(cls, path: str | Path | None = None) -> CNNDetector:
        """The model at ``path``, or the default one (shipped; trained and cached if missing)."""
        file = Path(path) if path is not None else weights_file(MODEL_FILE)
        if not file.exists():
            if path is not None:
                raise FileNotFoundError(f"no detector model at {file}; train one with train_cnn_detector")
            print(f"[cnn detector] no cached model at {file}; training it once (about 2-3 minutes)",
                  file=sys.stderr, flush=True)
            train_cnn_detector(file)
        checkpoint = torch.load(file, map_location="cpu", weights_only=True)
        layout = (checkpoint.get("format"), tuple(checkpoint.get("classes", ())),
                  checkpoint.get("stride"), checkpoint.get("pool"))
        if layout != (FORMAT, DETECTABLE, STRIDE, POOL):
            raise ValueError(f"{file} is not a {FORMAT} model for this vocabulary; delete it to retrain")
        model = CenterNet(len(DETECTABLE))
        model.load_state_dict(checkpoint["state_dict"])
        return cls(model)

    def detect(self, clip: Clip, query: str) -> list[Box]:
        cls = resolve_class(query)
        if cls is None:
            return []
        k = DETECTABLE.index(cls)
        out = []
        for frame_id, rows in zip(clip.ids, self._decoded(clip)):
            score, x1, y1, x2, y2 = rows[k]
            if score >= self.min_score and x2 > x1 and y2 > y1:
                out.append(Box(frame_id, float(x1), float(y1), float(x2), float(y2), cls, float(score)))
        return out

    def _decoded(self, clip: Clip) -> list[np.ndarray]:
        """Per frame of the clip, (classes, 5) rows of [score, x1, y1, x2, y2] at each class's
        peak; a frame already seen (by this question or another of its video) is not run again."""
        sampled, ids = clip.sampled, list(clip.ids)
        digests = sampled.frame_digests()

        def compute(positions: list[int]) -> list[np.ndarray]:
            todo = [ids[p] for p in positions]
            rows = []
            for start in range(0, len(todo), _BATCH):
                with torch.inference_mode(), one_thread():
                    out = self.model(net_input(_pool(sampled.frames[todo[start : start + _BATCH]])))
                rows += _decode(out, sampled.width, sampled.height)
            return rows

        return self._frames.get([digests[i] for i in ids], compute)


def _decode(out: torch.Tensor, width: int, height: int) -> list[np.ndarray]:
    k = len(DETECTABLE)
    n, _, _, gw = out.shape
    heat = torch.sigmoid(out[:, :k]).flatten(2)  # (n, k, cells)
    score, cell = heat.max(dim=2)
    regs = out[:, k:].flatten(2).gather(2, cell[:, None, :].expand(n, 4, k))  # (n, 4, k)
    cx = ((cell % gw).float() + regs[:, 2]) * STRIDE
    cy = ((cell // gw).float() + regs[:, 3]) * STRIDE
    w, h = regs[:, 0].exp(), regs[:, 1].exp()
    x1, x2 = (cx - w / 2).clamp(0, width), (cx + w / 2).clamp(0, width)
    y1, y2 = (cy - h / 2).clamp(0, height), (cy + h / 2).clamp(0, height)
    rows = torch.stack([score, x1, y1, x2, y2], dim=2)  # (n, k, 5)
    return list(rows.numpy())
