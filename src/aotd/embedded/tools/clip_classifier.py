"""The trained candidate ("clip-cnn") for action recognition and temporal grounding.

A small CNN encodes each sampled frame (downsampled to 48x64, plus its difference to the
previous frame so that motion is visible to a per-frame encoder); temporal convolutions mix
neighbouring frames; two heads predict each frame's verb (or "none") and object. Actions are
scored per frame as P(verb) * P(object) over the world's action space, which shares what is
learnt about "take" across objects and about an object's look across verbs — a flat
73-way head would see each action only a handful of times in a small training world.

The model reads pixels only; annotations are used for training alone. ``ClipClassifier.load``
trains and caches the weights on first use (about two minutes on two CPU cores).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from aotd.data.sampling import sample_indices
from aotd.data.video import decode_all
from aotd.embedded.tools.phrases import parse_action, world_actions
from aotd.embedded.tools.weights import weights_file
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.vocab import OBJECTS, VERBS, world_classes
from aotd.tools.clip import Clip
from aotd.tools.memo import FrameMemo, one_thread
from aotd.tools.types import Action, Window

CACHE_FILE = "recognizer_clip_v2.pt"  # v2: the world has apple and banana
TRAIN_SEED = 7001  # the private training world; benchmarks and tests use other seeds
VERB_NAMES = ("none", *VERBS)
OBJECT_NAMES = tuple(name for name, cls in OBJECTS.items() if cls.actionable)
SCALE = 4  # 192x256 frames are encoded at 48x64
SEQ_LEN = 16  # frames per training sequence; the temporal receptive field is far shorter


# --- model ---------------------------------------------------------------------------------
class ClipNet(nn.Module):
    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(6, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 48, 3, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(48 * 6 * 8, width), nn.ReLU(),
        )
        self.temporal = nn.ModuleList([nn.Conv1d(width, width, 3, padding=1) for _ in range(2)])
        self.verb_head = nn.Linear(width, len(VERB_NAMES))
        self.object_head = nn.Linear(width, len(OBJECT_NAMES))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, 6, 48, 64) -> verb logits (B, T, V) and object logits (B, T, O)."""
        b, t = x.shape[:2]
        return self.over_time(self.encoder(x.flatten(0, 1)).view(b, t, -1))

    def over_time(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, width) per-frame encodings -> the logits, after the temporal convolutions."""
        h = h.transpose(1, 2)
        for conv in self.temporal:
            h = h + F.relu(conv(h))
        h = h.transpose(1, 2)
        return self.verb_head(h), self.object_head(h)


def downsample(frames: np.ndarray) -> np.ndarray:
    """(T, 192, 256, 3) uint8 -> (T, 48, 64, 3) uint8 by area averaging (the mean rounded down).

    Block sums by explicit adds in uint16 are ~10x faster than numpy's mean over the same
    blocks, and stay in numpy: this runs in forked processes, where torch's thread pool can
    deadlock."""
    t, h, w, c = frames.shape
    rows = np.ascontiguousarray(frames).reshape(t * h // SCALE, SCALE, w // SCALE, SCALE, c).astype(np.uint16)
    down = sum(rows[:, k] for k in range(1, SCALE)) + rows[:, 0]  # (T*h/S, w/S, S, c): the block's rows added
    block = sum(down[:, :, k] for k in range(1, SCALE)) + down[:, :, 0]
    return (block // (SCALE * SCALE)).astype(np.uint8).reshape(t, h // SCALE, w // SCALE, c)


def _inputs(small: np.ndarray) -> torch.Tensor:
    """(B, T, 48, 64, 3) uint8 -> (B, T, 6, 48, 64): colours and the change since the previous frame."""
    x = torch.from_numpy(small).float().div_(255.0).permute(0, 1, 4, 2, 3)
    diff = torch.zeros_like(x)
    diff[:, 1:] = x[:, 1:] - x[:, :-1]
    return torch.cat([x - 0.5, diff * 4.0], dim=2)


# --- training data -------------------------------------------------------------------------
@dataclass
class _Video:
    frames: np.ndarray  # (num_frames, 48, 64, 3) uint8
    verb: np.ndarray  # (num_frames,) index into VERB_NAMES
    obj: np.ndarray  # (num_frames,) index into OBJECT_NAMES, -1 where no action


def _frame_labels(num_frames: int, fps: float, actions: list[list]) -> tuple[np.ndarray, np.ndarray]:
    verb = np.zeros(num_frames, np.int64)
    obj = np.full(num_frames, -1, np.int64)
    wc = world_classes()
    for aid, start_s, end_s in actions:
        lo, hi = round(start_s * fps), round(end_s * fps) - 1  # end_s is exclusive
        verb[lo : hi + 1] = VERB_NAMES.index(wc.action_verb(aid))
        obj[lo : hi + 1] = OBJECT_NAMES.index(wc.action_object(aid))
    return verb, obj


def _decode_small(path: Path) -> np.ndarray:
    return downsample(decode_all(path))


def _load_world(world_dir: Path, splits: Sequence[str] | None) -> list[_Video]:
    """Every chosen video decoded once (two processes) at the model's resolution, with frame labels."""
    meta = json.loads((world_dir / "annotations" / "videos.json").read_text())
    chosen = [(vid, info) for vid, info in sorted(meta.items()) if splits is None or info["split"] in splits]
    with mp.get_context("fork").Pool(2) as pool:
        decoded = pool.map(_decode_small, [world_dir / "videos" / f"{vid}.mp4" for vid, _ in chosen])
    out = []
    for (_, info), frames in zip(chosen, decoded):
        n = min(len(frames), info["num_frames"])
        verb, obj = _frame_labels(n, info["fps"], info["actions"])
        out.append(_Video(frames[:n], verb, obj))
    return out


def _batch(videos: list[_Video], rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sequences cut from 32 frames sampled over random windows, as tools see clips.

    Half the windows span the whole video (the spacing of a full-video clip); the rest are
    shorter, so the model also sees finer spacings. A random brightness gain and colour
    shift per sequence stand in for other rooms' lighting.
    """
    xs, vs, os_ = [], [], []
    for _ in range(size):
        v = videos[int(rng.integers(len(videos)))]
        n = len(v.frames)
        if rng.random() < 0.5:
            lo, hi = 0, n - 1
        else:
            length = int(rng.integers(min(n, 32), n + 1))
            lo = int(rng.integers(0, n - length + 1))
            hi = lo + length - 1
        idx = np.asarray(sample_indices(n, 32, lo, hi))
        first = int(rng.integers(0, 32 - SEQ_LEN + 1))
        idx = idx[first : first + SEQ_LEN]
        frames = v.frames[idx].astype(np.float32) * rng.uniform(0.85, 1.15) + rng.uniform(-12, 12, size=3)
        xs.append(np.clip(frames, 0, 255).astype(np.uint8))
        vs.append(v.verb[idx])
        os_.append(v.obj[idx])
    return np.stack(xs), np.stack(vs), np.stack(os_)


def _loss(net: ClipNet, x: np.ndarray, verb: np.ndarray, obj: np.ndarray) -> torch.Tensor:
    verb_logits, obj_logits = net(_inputs(x))
    v, o = torch.from_numpy(verb), torch.from_numpy(obj)
    loss = F.cross_entropy(verb_logits.flatten(0, 1), v.flatten())
    acting = o.flatten() >= 0
    if acting.any():
        loss = loss + F.cross_entropy(obj_logits.flatten(0, 1)[acting], o.flatten()[acting])
    return loss


def train_clip_classifier(
    out_path: str | Path,
    *,
    world_dir: str | Path | None = None,
    videos: int = 120,
    epochs: int = 25,
    steps_per_epoch: int = 12,
    batch_size: int = 24,
    seed: int = 0,
    noise: float = 0.5,
    log: bool = True,
) -> Path:
    """Train the clip model and save it to ``out_path``; return the path.

    Without ``world_dir`` a private world of ``videos`` videos is generated with a fixed seed
    (all its videos train); with one, its train split is used. Deterministic given ``seed``.
    """
    out_path = Path(out_path)
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if log:
            print(f"[clip-cnn {time.perf_counter() - t0:5.1f}s] {msg}", file=sys.stderr, flush=True)

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="aotd-clip-train-") as tmp:
        if world_dir is None:
            say(f"generating a {videos}-video training world")
            root = Path(tmp) / "world"
            generate_world(WorldConfig(out=root, videos=videos, seed=TRAIN_SEED, noise=noise, workers=2), progress=False)
            data = _load_world(root, None)
        else:
            data = _load_world(Path(world_dir), ("train",))
    say(f"decoded {len(data)} videos; training {epochs} epochs x {steps_per_epoch} steps")
    net = ClipNet()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    total = max(1, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=total, pct_start=0.15)
    losses: list[float] = []
    net.train()
    for epoch in range(epochs):
        running = 0.0
        for _ in range(steps_per_epoch):
            loss = _loss(net, *_batch(data, rng, batch_size))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
        losses.append(running / max(1, steps_per_epoch))
        say(f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.3f}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(f".{out_path.name}.tmp")
    torch.save({"state": net.state_dict(), "verbs": list(VERB_NAMES), "objects": list(OBJECT_NAMES),
                "losses": losses, "seed": seed}, tmp_path)
    os.replace(tmp_path, out_path)
    say(f"saved {out_path}")
    return out_path


# --- inference -----------------------------------------------------------------------------
class ClipClassifier:
    """Recognizer and grounder over per-frame action probabilities from ``ClipNet``."""

    name = "clip-cnn"
    min_score = 0.02  # actions scoring below this are not reported
    ground_threshold = 0.02  # a queried action whose peak stays below this is not in the clip

    def __init__(self, net: ClipNet) -> None:
        self.net = net.eval()
        actions = world_actions()
        self.actions = actions
        self._verb_idx = torch.tensor([VERB_NAMES.index(v) for v, _ in actions])
        self._obj_idx = torch.tensor([OBJECT_NAMES.index(o) for _, o in actions])
        self._small: FrameMemo[np.ndarray] = FrameMemo(limit=8192)  # frames at 48x64, 9 KB each
        self._encodings: FrameMemo[torch.Tensor] = FrameMemo()

    @classmethod
    def load(cls, path: str | Path | None = None) -> ClipClassifier:
        """Load weights from ``path`` (default: the shipped ones; trained and cached if missing)."""
        path = Path(path) if path is not None else weights_file(CACHE_FILE)
        if not path.exists():
            print(f"clip-cnn: no weights at {path}; training them once (about two minutes)", file=sys.stderr)
            train_clip_classifier(path)
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if tuple(ckpt["verbs"]) != VERB_NAMES or tuple(ckpt["objects"]) != OBJECT_NAMES:
            raise ValueError(f"{path} was trained for another vocabulary; delete it to retrain")
        net = ClipNet()
        net.load_state_dict(ckpt["state"])
        return cls(net)

    def action_probs(self, clip: Clip) -> np.ndarray:
        """(len(clip), num_actions): P(verb) * P(object) of every world action in every frame.

        A frame's encoding depends on it and the clip's frame before it (the change channel),
        so it is kept per (previous, current) frame content and shared by every call and every
        question of the video that sees that pair; the temporal layers run per clip."""
        sampled, ids = clip.sampled, list(clip.ids)
        digests = sampled.frame_digests()
        small = np.stack(self._small.get([digests[i] for i in ids],
                                         lambda todo: list(downsample(sampled.frames[[ids[t] for t in todo]]))))
        keys = [(digests[ids[t - 1]] if t else None, digests[i]) for t, i in enumerate(ids)]
        return self.small_action_probs(small, keys).numpy()

    @torch.no_grad()
    def small_action_probs(self, small: np.ndarray, keys: list[tuple[bytes | None, bytes]] | None = None) -> torch.Tensor:
        """The same from a clip's frames already at the model's 48x64 (``downsample``); with
        ``keys`` (per frame, the contents of it and of the frame before) encodings are shared."""
        x = _inputs(np.ascontiguousarray(small)[None])[0]  # (T, 6, 48, 64)
        with one_thread():  # a frame's encoding then does not depend on what it is batched with
            if keys is None:
                h = self.net.encoder(x)
            else:
                h = torch.stack(self._encodings.get(keys, lambda todo: list(self.net.encoder(x[todo]))))
            verb_logits, obj_logits = self.net.over_time(h[None])
        pv, po = verb_logits[0].softmax(-1), obj_logits[0].softmax(-1)
        return pv[:, self._verb_idx] * po[:, self._obj_idx]

    def recognize(self, clip: Clip, obj: str | None = None) -> list[Action]:
        probs = self.action_probs(clip)
        peaks = probs.max(axis=0)
        out = []
        for k in np.argsort(-peaks):
            verb, name = self.actions[k]
            if obj is not None and name != obj:
                continue
            if out and peaks[k] < self.min_score:
                break
            out.append(Action(verb, name, float(peaks[k]), _segment(clip, probs[:, k], float(peaks[k]))))
        return out[:5]

    def ground(self, clip: Clip, query: str) -> Window | None:
        parsed = parse_action(query)
        if parsed is None:
            return None
        curve = self.action_probs(clip)[:, self.actions.index(parsed)]
        if len(curve) > 2:  # a [1, 2, 1] smoothing keeps one doubtful frame from splitting a window
            curve = np.convolve(np.pad(curve, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
        peak = float(curve.max())
        return _segment(clip, curve, peak) if peak >= self.ground_threshold else None


def _segment(clip: Clip, curve: np.ndarray, peak: float) -> Window:
    """The contiguous run of frames around the peak holding at least half its probability."""
    i = j = int(curve.argmax())
    while i > 0 and curve[i - 1] >= 0.5 * peak:
        i -= 1
    while j < len(curve) - 1 and curve[j + 1] >= 0.5 * peak:
        j += 1
    return Window(clip.ids[i], clip.ids[j], peak)
