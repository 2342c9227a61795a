"""The hand-built candidate ("motion") for action recognition and temporal grounding.

No learning: it knows each class's colour (``aotd.embedded.world.vocab.OBJECTS``) and how the world's
open objects look inside, like a model that knows its labels' looks, and reads an action
from what changes between the first and the last frame of a window and in between:

* take: the object's colour leaves a resting height (table top, floor) and appears at the
  carrying height beside the person; put is the reverse;
* hold: the object's colour rises above head height and comes back;
* throw: the object lands on the floor far from where it left;
* eat: the object is brought near the mouth and its colour shrinks away;
* open / close: an object's "inside" colour (a dark cavity, a lit fridge, a screen, outside
  air behind a window, white pages) appears / disappears next to the object's colour.

Pixel noise, lighting, camera pan, people's shirts in class colours and occluders all fool
it; it is the weak baseline that the trained ``clip-cnn`` candidate must beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aotd.embedded.tools.phrases import parse_action, world_actions
from aotd.embedded.world.vocab import OBJECTS
from aotd.tools.clip import Clip
from aotd.tools.memo import FrameMemo
from aotd.tools.types import Action, Window

# inside looks of open objects, as the world draws them (render.py)
DARK = (35, 30, 28)
INSIDE = {
    "closet/cabinet": DARK, "door": DARK, "box": DARK, "bag": DARK,
    "refrigerator": (250, 245, 200), "window": (70, 110, 60), "book": (235, 232, 220), "laptop": (120, 170, 220),
}
SKIN = (205, 165, 135)
ACTIONABLE = tuple(name for name, cls in OBJECTS.items() if cls.actionable)
# palette: the classes, then inside looks and skin (so a person's hand is not taken for a sandwich)
_EXTRA = sorted({*INSIDE.values(), SKIN})
PALETTE = np.array([OBJECTS[n].color for n in ACTIONABLE] + _EXTRA, np.float32)
TOLERANCE = 55.0  # max colour distance of a pixel to its palette entry
CHANGE = 60.0  # summed |RGB| change that counts as a change (on 2x2-averaged pixels)
HEAD_TOP = 64.0  # image y above which a raised object is held up
CARRY = (84.0, 118.0)  # image y band of an object carried at hand height
REST = 116.0  # image y below which an object rests on a table top or the floor


def _half(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame at half resolution and each pixel's palette label (-1 where no palette colour is near)."""
    h, w, _ = frame.shape
    rgb = frame.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3), dtype=np.float32)
    dist = np.linalg.norm(rgb[..., None, :] - PALETTE, axis=-1)
    labels = dist.argmin(-1).astype(np.int16)
    labels[dist.min(-1) > TOLERANCE] = -1
    return rgb, labels


@dataclass
class _Frames:
    """A clip's frames at half resolution with each pixel's palette label."""

    rgb: np.ndarray  # (T, 96, 128, 3) float32
    labels: np.ndarray  # (T, 96, 128) int16, -1 where no palette colour is near
    _changes: dict[tuple[int, int], np.ndarray]

    @classmethod
    def of(cls, frames: Sequence[tuple[np.ndarray, np.ndarray]]) -> _Frames:
        """From each frame's ``_half``."""
        return cls(np.stack([rgb for rgb, _ in frames]), np.stack([labels for _, labels in frames]), {})

    def changed(self, a: int, b: int) -> np.ndarray:
        """Pixels that differ between frames a and b (memoised: windows share their ends)."""
        key = (min(a, b), max(a, b))
        if key not in self._changes:
            self._changes[key] = np.abs(self.rgb[a] - self.rgb[b]).sum(-1) > CHANGE
        return self._changes[key]


def _centroid(mask: np.ndarray) -> tuple[float, float] | None:
    ys, xs = np.nonzero(mask)
    return (2.0 * xs.mean(), 2.0 * ys.mean()) if len(xs) else None


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        for s in range(1, r + 1):
            grown |= np.roll(out, s, axis) | np.roll(out, -s, axis)
        out = grown
    return out


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 below lo, 1 above hi, linear between."""
    return float(min(1.0, max(0.0, (x - lo) / (hi - lo))))


class MotionRecognizer:
    """Recognizer and grounder from colour changes; see the module docstring."""

    name = "motion"
    ground_threshold = 0.05
    max_window = 8  # longest window (in sampled frames) grounding considers

    def __init__(self) -> None:
        # each frame's half-resolution pixels and labels, shared by every query on its video
        # (step 1 grounds a video's every action on the same clip; a video's questions share frames)
        self._memo: FrameMemo[tuple[np.ndarray, np.ndarray]] = FrameMemo(limit=1024)

    def _frames(self, clip: Clip) -> _Frames:
        sampled, ids = clip.sampled, list(clip.ids)
        digests = sampled.frame_digests()
        parts = self._memo.get([digests[i] for i in ids], lambda todo: [_half(sampled.frames[ids[p]]) for p in todo])
        return _Frames.of(parts)

    def recognize(self, clip: Clip, obj: str | None = None) -> list[Action]:
        fr = self._frames(clip)
        scored = []
        for verb, name in world_actions():
            if obj is not None and name != obj:
                continue
            score, span = self._score(fr, 0, len(clip) - 1, verb, name)
            window = Window(clip.ids[span[0]], clip.ids[span[1]], score) if span else None
            scored.append(Action(verb, name, score, window))
        scored.sort(key=lambda a: -a.score)
        return scored[:5]

    def ground(self, clip: Clip, query: str) -> Window | None:
        parsed = parse_action(query)
        if parsed is None:
            return None
        fr = self._frames(clip)
        n = len(clip)
        best, best_window = 0.0, None
        for i in range(n):
            for j in range(i + 1 if n > 1 else i, min(n, i + self.max_window)):
                score = self._score(fr, i, j, *parsed)[0] * (1.0 - 0.04 * (j - i))
                if score > best:
                    best, best_window = score, (i, j)
        if best_window is None or best < self.ground_threshold:
            return None
        return Window(clip.ids[best_window[0]], clip.ids[best_window[1]], best)

    def _score(self, fr: _Frames, i: int, j: int, verb: str, name: str) -> tuple[float, tuple[int, int] | None]:
        """How well frames i..j show (verb, name), in [0, 1], and the frames where the object changes."""
        c = ACTIONABLE.index(name)
        ends_changed = fr.changed(i, j)
        is0, is1 = fr.labels[i] == c, fr.labels[j] == c
        vacated, arrived = is0 & ~is1 & ends_changed, is1 & ~is0 & ends_changed
        moving = [vacated | (is0 & ends_changed)]
        for t in range(i + 1, j):
            moving.append((fr.labels[t] == c) & fr.changed(t, i) & fr.changed(t, j))
        moving.append(arrived | (is1 & ends_changed))
        counts = np.array([m.sum() for m in moving], np.float32)
        cls = OBJECTS[name]
        area = cls.size[0] * cls.size[1] / 4.0
        seen = _ramp(float(counts.max()), 0.1 * area, 0.5 * area)
        active = np.nonzero(counts >= max(2.0, 0.1 * area))[0]
        span = (i + int(active[0]), i + int(active[-1])) if len(active) else None
        if verb in ("open", "close"):
            return self._open_close(fr, i, j, c, name, verb == "open"), span if span else (i, j)
        v0, v1 = _centroid(vacated), _centroid(arrived)
        tops = [2.0 * np.nonzero(m)[0].min() for m in moving if m.any()]
        if verb == "take":
            cue = (v0 is not None and v0[1] > REST) * 0.5 + (v1 is not None and CARRY[0] < v1[1] < CARRY[1]) * 0.5
        elif verb == "put":
            cue = (v0 is not None and CARRY[0] < v0[1] < CARRY[1]) * 0.5 + (v1 is not None and v1[1] > REST) * 0.5
        elif verb == "hold":
            cue = float(bool(tops) and min(tops) < HEAD_TOP) * (0.4 + 0.6 * (v1 is None or v1[1] < REST))
        elif verb == "throw":
            far = v0 is not None and v1 is not None and abs(v1[0] - v0[0]) > 30
            cue = (v1 is not None and v1[1] > 150) * 0.5 + far * 0.5
        else:  # eat: near the mouth, then the colour shrinks away
            near_mouth = any(60 <= t <= 90 for t in tops)
            shrinks = counts.max() > 0 and counts[-1] < 0.5 * counts.max()
            cue = near_mouth * 0.5 + shrinks * 0.5
        return seen * (0.1 + 0.9 * float(cue)), span

    def _open_close(self, fr: _Frames, i: int, j: int, c: int, name: str, opening: bool) -> float:
        """Inside colour appearing (open) or vanishing (close) next to the object's colour."""
        inside = len(ACTIONABLE) + _EXTRA.index(INSIDE[name])
        near = _dilate((fr.labels[i] == c) | (fr.labels[j] == c), 4)
        changed = fr.changed(i, j) & near
        gained = float((changed & (fr.labels[j] == inside)).sum())
        lost = float((changed & (fr.labels[i] == inside)).sum())
        w, h = OBJECTS[name].size
        expected = 0.15 * w * h / 4.0
        delta = (gained - lost) if opening else (lost - gained)
        return _ramp(delta, 0.0, expected)
