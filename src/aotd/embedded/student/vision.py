"""The embedded student's vision tower: the world's two pixel models, pretrained elsewhere and frozen.

A Video-LLM reads frames through encoders pretrained elsewhere and kept frozen while the
language side is tuned (CLIP/SigLIP for images, a video encoder such as UMT or InternVideo,
pretrained on action recognition, for motion), which is the paper's setting. The embedded
student does the same with the two vision models this project trains from pixels, each on a
world generated with its own seed, never the world the student is trained or evaluated on:

- the CenterNet detector (``aotd.embedded.tools.cnn_detector``), per frame: for every
  detectable class the peak score of its heatmap and where that peak is (centre and size,
  scaled to the frame and multiplied by the score, so an absent object contributes nothing),
  and the deepest feature map averaged over space (an open door, a raised arm);
- the clip recognizer (``aotd.embedded.tools.clip_classifier``), over the question's 32
  frames as a clip: every world action's probability in every frame. A detector alone shows
  what is where but not who does what; a linear probe of its features told an event's verb
  only 55% of the time (``benchmarks/tower_probe.py``).

The student learns the rest (which event the question means, what came before or after, what
the options say) from these 32 vectors.
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

from aotd.embedded.tools.clip_classifier import ClipClassifier, ClipNet, downsample
from aotd.embedded.tools.cnn_detector import POOL, STRIDE, CenterNet, CNNDetector, net_input
from aotd.embedded.tools.phrases import world_actions
from aotd.embedded.world.vocab import DETECTABLE
from aotd.tools.memo import one_thread

FRAME_SIZE = (192, 256)  # (height, width) both models were trained at; other frames are resized to it
PER_CLASS = 5  # score, and score * (cx, cy, w, h) scaled to the frame
_BATCH = 32
_REMEMBERED = 4096  # feature sets kept (~20 KB each): a demo's questions, shared by the students it trains
_MEMO: OrderedDict[tuple[str, bytes], torch.Tensor] = OrderedDict()


def _remember(memo: OrderedDict, key: object, make, limit: int) -> torch.Tensor:  # type: ignore[type-arg]
    value = memo.get(key)
    if value is None:
        value = memo[key] = make()
    memo.move_to_end(key)
    while len(memo) > limit:
        memo.popitem(last=False)
    return value


class VisionTower:
    """Frames (N, H, W, 3) uint8, one clip -> (N, ``dim``) float32 features; frozen, deterministic.

    Per frame: the detector's ``len(classes) * PER_CLASS`` class features and its ``deep``
    features, then the recognizer's probability of each of ``actions`` (a frame's detector
    features depend on that frame alone, its action probabilities on the whole clip).
    """

    def __init__(self, detector: CenterNet, recognizer: ClipNet) -> None:
        self.detector, self.recognizer = detector.eval(), ClipClassifier(recognizer)
        for p in (*self.detector.parameters(), *self.recognizer.net.parameters()):
            p.requires_grad_(False)
        self.classes = DETECTABLE
        self.actions = world_actions()
        self.deep = self.detector.level3[-1][0].out_channels
        self.frame_dim = len(DETECTABLE) * PER_CLASS + self.deep  # what each frame gives alone
        self.dim = self.frame_dim + len(self.actions)
        self._digest = self.fingerprint()

    @classmethod
    def pretrained(cls) -> VisionTower:
        """The shipped detector and recognizer (trained once, each on its own world, when missing)."""
        return cls(CNNDetector.load().model, ClipClassifier.load().net)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**{f"detector.{k}": v.detach().cpu() for k, v in self.detector.state_dict().items()},
                **{f"recognizer.{k}": v.detach().cpu() for k, v in self.recognizer.net.state_dict().items()}}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], source: str = "the tower's weights") -> VisionTower:
        parts: dict[str, dict[str, torch.Tensor]] = {"detector": {}, "recognizer": {}}
        for key, value in state.items():
            part, _, name = key.partition(".")
            if part not in parts:
                raise ValueError(f"{source} hold a detector-only tower from before the recognizer joined it; "
                                 "train the student again")
            parts[part][name] = value
        detector, recognizer = CenterNet(len(DETECTABLE)), ClipNet()
        detector.load_state_dict(parts["detector"])
        recognizer.load_state_dict(parts["recognizer"])
        return cls(detector, recognizer)

    def fingerprint(self) -> str:
        """A short hash of the weights, recorded with a trained student (which tower it learned on)."""
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        return hashlib.blake2b(buf.getvalue(), digest_size=8).hexdigest()

    def save(self, path: Path) -> None:
        torch.save(self.state_dict(), path)

    @classmethod
    def load(cls, path: Path) -> VisionTower:
        return cls.from_state_dict(torch.load(path, map_location="cpu", weights_only=True), str(path))

    def features(self, frames: np.ndarray) -> torch.Tensor:
        """The clip's features, remembered by content (and by this tower's weights) in a
        process-wide LRU: answer and rationale records of one sample, and every student a demo
        trains on the same questions, run the tower once."""
        arr = np.asarray(frames)
        if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"the vision tower takes (N, H, W, 3) uint8 frames, got {arr.dtype} {arr.shape}")
        key = (self._digest, hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=16).digest())

        def make() -> torch.Tensor:
            x = _resized(arr)
            return self.combine(self.frame_features(x), self.action_features(downsample(x)))

        return _remember(_MEMO, key, make, _REMEMBERED)

    def combine(self, frame_features: torch.Tensor, action_features: torch.Tensor) -> torch.Tensor:
        return torch.cat([frame_features, action_features], 1)

    @torch.inference_mode()
    def frame_features(self, arr: np.ndarray) -> torch.Tensor:
        """(N, ``frame_dim``): the detector's part, frame by frame (FRAME_SIZE frames)."""
        x = torch.from_numpy(np.array(arr, copy=not arr.flags.writeable)).permute(0, 3, 1, 2).float()
        x = F.avg_pool2d(x, POOL).round()
        out = []
        with one_thread():
            for start in range(0, len(x), _BATCH):
                head, deep = self.detector.forward_features(net_input(x[start : start + _BATCH]))
                out.append(torch.cat([_peaks(head), deep.mean(dim=(2, 3))], 1))
        return torch.cat(out).float()

    def action_features(self, small: np.ndarray) -> torch.Tensor:
        """(N, len(actions)): the recognizer's part, over the clip's frames at 48x64 (``downsample``)."""
        with one_thread():
            return self.recognizer.small_action_probs(small).float()


def _resized(arr: np.ndarray) -> np.ndarray:
    """Frames at FRAME_SIZE, as both models were trained."""
    if tuple(arr.shape[1:3]) == FRAME_SIZE:
        return arr
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=FRAME_SIZE, mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


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
    """The tower's features of a question's 32 frames, from work done once per video.

    A question reads 32 frames sampled from its window; a video has a dozen questions, and a
    demo trains and evaluates a dozen students on them. Decoding and running the tower per
    question and per student repeated the same work ~100 times. Here each video is decoded
    once; the detector's per-frame part runs over all its frames in batches; the recognizer's
    part, which depends on the whole clip, runs once per question on its frames at 48x64 (kept
    for the videos in use). Both are kept in memory and (with ``directory``) on disk as ``.npy``
    keyed by the tower's weights and the file's path, size and mtime (and the question's
    frames), so that other processes (``aotd eval``) and later runs reuse them. ``features``
    samples exactly the frames ``data.video.sample_video`` would.
    """

    def __init__(self, tower: VisionTower, directory: Path | None = None, remembered: int = 4096) -> None:
        self.tower, self.remembered = tower, remembered
        self.directory = None if directory is None else Path(directory) / tower.fingerprint()
        self._videos: OrderedDict[tuple[str, int, int], torch.Tensor] = OrderedDict()
        self._small: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._clips: OrderedDict[tuple[tuple[str, int, int], tuple[int, ...]], torch.Tensor] = OrderedDict()

    def features(self, path: str | Path, start_s: float | None = None, end_s: float | None = None,
                 n: int = 32) -> torch.Tensor:
        """(n, dim) features of the ``n`` frames sampled from [start_s, end_s] of the video."""
        from aotd.data.video import sampled_indices

        idx, _ = sampled_indices(path, n, start_s=start_s, end_s=end_s)
        key = _key(path)
        frames = self.video(path)[idx]  # first: computing it also keeps the recognizer's input
        clip = (key, tuple(idx))
        actions = _remember(self._clips, clip, lambda: self._stored(
            clip, lambda: self.tower.action_features(self._small_frames(path, key)[idx])), self.remembered)
        return self.tower.combine(frames, actions)

    def _small_frames(self, path: str | Path, key: tuple[str, int, int]) -> np.ndarray:
        from aotd.data.video import decode_all

        return _remember(self._small, key, lambda: downsample(_resized(decode_all(path))), 16)

    def video(self, path: str | Path) -> torch.Tensor:
        """(num_frames, frame_dim): the detector's part for every frame of the video."""
        from aotd.data.video import probe_video, read_frames

        key = _key(path)

        def make() -> torch.Tensor:
            n = probe_video(path).num_frames or 0
            frames = _resized(read_frames(path, range(n)))
            _remember(self._small, key, lambda: downsample(frames), 16)  # the recognizer's input, decoded once
            return torch.cat([self.tower.frame_features(frames[s : s + 256]) for s in range(0, n, 256)])

        return _remember(self._videos, key, lambda: self._stored(key, make), self.remembered)

    def _stored(self, key: object, make) -> torch.Tensor:  # noqa: ANN001 - () -> Tensor
        """``make()``, kept on disk under a hash of ``key`` when there is a directory."""
        if self.directory is None:
            return make()
        file = self.directory / (hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest() + ".npy")
        if file.exists():
            return torch.from_numpy(np.load(file))
        feats = make()
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, feats.numpy())
        os.replace(tmp, file)  # whole or absent, when several processes fill the store
        return feats


def _key(path: str | Path) -> tuple[str, int, int]:
    stat = Path(path).stat()
    return str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns
