"""The embedded student's vision tower: the CNN detector, pretrained on another world and frozen.

A Video-LLM reads frames through a vision encoder pretrained elsewhere (CLIP/SigLIP in
LLaVA) and kept frozen while the language side is tuned, which is the paper's setting. The
embedded student does the same with the one vision model this project trains from pixels: the
CenterNet detector (``aotd.tools.embedded.cnn_detector``), trained on key frames of a world
generated with its own seed, never the world the student is trained or evaluated on.

Per frame the tower gives, for every detectable class, the peak score of its heatmap and
where that peak is (centre and size, scaled to the frame and multiplied by the score, so an
absent object contributes nothing), and the deepest feature map averaged over space (what
the frame looks like beyond the classes: an open door, a raised arm). The student learns the
rest — who moved what, when, in which order — from these 32 vectors.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from aotd.select.detection import DETECTABLE
from aotd.tools.embedded.cnn_detector import POOL, STRIDE, CenterNet, CNNDetector, _normalise, _one_thread

FRAME_SIZE = (192, 256)  # (height, width) the detector was trained at; other frames are resized to it
PER_CLASS = 5  # score, and score * (cx, cy, w, h) scaled to the frame
_BATCH = 32
_REMEMBERED = 4096  # feature sets kept (~20 KB each): a demo's questions, shared by the students it trains
_MEMO: OrderedDict[tuple[str, bytes], torch.Tensor] = OrderedDict()


class DetectorTower:
    """Frames (N, H, W, 3) uint8 -> (N, ``dim``) float32 features; frozen, deterministic."""

    def __init__(self, net: CenterNet) -> None:
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.classes = DETECTABLE  # the first len(classes) * PER_CLASS features are per class, in this order
        self.dim = len(DETECTABLE) * PER_CLASS + self.net.level3[-1][0].out_channels
        self._digest = self.fingerprint()

    @classmethod
    def pretrained(cls) -> DetectorTower:
        """The cached default detector (trained once, on its own world, when missing)."""
        return cls(CNNDetector.load().model)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.net.state_dict().items()}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> DetectorTower:
        net = CenterNet(len(DETECTABLE))
        net.load_state_dict(state)
        return cls(net)

    def fingerprint(self) -> str:
        """A short hash of the weights, recorded with a trained student (which tower it learned on)."""
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        return hashlib.blake2b(buf.getvalue(), digest_size=8).hexdigest()

    def save(self, path: Path) -> None:
        torch.save(self.state_dict(), path)

    @classmethod
    def load(cls, path: Path) -> DetectorTower:
        return cls.from_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    def features(self, frames: np.ndarray) -> torch.Tensor:
        """The frames' features, remembered by content (and by this tower's weights) in a
        process-wide LRU: answer and rationale records of one sample, and every student a demo
        trains on the same questions, run the tower once."""
        arr = np.asarray(frames)
        if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"the vision tower takes (N, H, W, 3) uint8 frames, got {arr.dtype} {arr.shape}")
        key = (self._digest, hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=16).digest())
        feats = _MEMO.get(key)
        if feats is None:
            feats = _MEMO[key] = self._compute(arr)
        _MEMO.move_to_end(key)
        while len(_MEMO) > _REMEMBERED:
            _MEMO.popitem(last=False)
        return feats

    @torch.inference_mode()
    def _compute(self, arr: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(arr, copy=not arr.flags.writeable)).permute(0, 3, 1, 2).float()
        if tuple(x.shape[2:]) != FRAME_SIZE:
            x = F.interpolate(x, size=FRAME_SIZE, mode="bilinear", align_corners=False)
        x = F.avg_pool2d(x, POOL).round()
        out = []
        with _one_thread():
            for start in range(0, len(x), _BATCH):
                head, deep = self.net.forward_features(_normalise(x[start : start + _BATCH]))
                out.append(torch.cat([_peaks(head), deep.mean(dim=(2, 3))], 1))
        return torch.cat(out).float()


def _peaks(head: torch.Tensor) -> torch.Tensor:
    """(n, k + 4, gh, gw) head outputs -> (n, k * 5): per class its peak score and scaled box."""
    k = len(DETECTABLE)
    n, _, gh, gw = head.shape
    heat = torch.sigmoid(head[:, :k]).flatten(2)
    score, cell = heat.max(dim=2)  # (n, k)
    regs = head[:, k:].flatten(2).gather(2, cell[:, None, :].expand(n, 4, k))  # (n, 4, k)
    height, width = FRAME_SIZE
    cx = ((cell % gw).float() + regs[:, 2]) * STRIDE / width
    cy = ((cell // gw).float() + regs[:, 3]) * STRIDE / height
    w, h = regs[:, 0].clamp(max=6).exp() / width, regs[:, 1].clamp(max=6).exp() / height
    return torch.stack([score, score * cx, score * cy, score * w, score * h], dim=2).flatten(1)


class VideoFeatures:
    """The tower's features of every frame of a video, computed once and sliced per question.

    A question reads 32 frames sampled from its window; a video has a dozen questions, and a
    demo trains and evaluates a dozen students on them. Decoding and running the tower per
    question and per student repeated the same work ~100 times; here each video's frames are
    decoded once, run through the tower in batches, kept in memory and (with ``directory``)
    on disk as ``.npy`` keyed by the tower's weights and the file's path, size and mtime, so
    that other processes (``aotd eval``) and later runs reuse them. ``features`` samples
    exactly the frames ``data.video.sample_video`` would.
    """

    def __init__(self, tower: DetectorTower, directory: Path | None = None, remembered: int = 4096) -> None:
        self.tower, self.remembered = tower, remembered
        self.directory = None if directory is None else Path(directory) / tower.fingerprint()
        self._videos: OrderedDict[tuple[str, int, int], torch.Tensor] = OrderedDict()

    def features(self, path: str | Path, start_s: float | None = None, end_s: float | None = None,
                 n: int = 32) -> torch.Tensor:
        """(n, dim) features of the ``n`` frames sampled from [start_s, end_s] of the video."""
        from aotd.data.sampling import sample_indices, window_to_frames
        from aotd.data.video import probe_video

        info = probe_video(path)
        assert info.fps is not None and info.num_frames is not None
        lo, hi = window_to_frames(start_s, end_s, info.fps, info.num_frames)
        return self.video(path)[sample_indices(info.num_frames, n, lo, hi)]

    def video(self, path: str | Path) -> torch.Tensor:
        """(num_frames, dim) features of every frame of the video."""
        from aotd.data.video import probe_video, read_frames

        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
        feats = self._videos.get(key)
        if feats is None:
            file = None if self.directory is None else \
                self.directory / (hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest() + ".npy")
            if file is not None and file.exists():
                feats = torch.from_numpy(np.load(file))
            else:
                n = probe_video(path).num_frames or 0
                feats = torch.cat([self.tower._compute(read_frames(path, range(s, min(n, s + 256))))
                                   for s in range(0, n, 256)])
                if file is not None:
                    file.parent.mkdir(parents=True, exist_ok=True)
                    tmp = file.with_suffix(f".{os.getpid()}.tmp")
                    with open(tmp, "wb") as f:
                        np.save(f, feats.numpy())
                    os.replace(tmp, file)  # whole or absent, when several processes fill the store
            self._videos[key] = feats
        self._videos.move_to_end(key)
        while len(self._videos) > self.remembered:
            self._videos.popitem(last=False)
        return feats
