"""``ColorDetector``: find a class by its known colour and size, pixels only — the weak candidate.

The prior is what the vocabulary says a class looks like (base colour, drawn size), the kind
of knowledge a model trained on the class would hold; at test time only the frame is read.
Each frame is white-balanced against the wall (its median colour), every pixel gets a soft
match to the class that shrinks where another class, the wall or the floor fits better, and
a window of the class's size slides over the match map: the window whose inside matches best
and whose surround matches least wins, then snaps to the matching rows and columns. Tint,
per-video colour jitter, occluders and look-alike classes (cup / window, box / closet / door)
fool it, which is why a trained detector is the other candidate.
"""

from __future__ import annotations

import re

import numpy as np

from aotd.data.sampling import SampledFrames
from aotd.embedded.world.vocab import OBJECTS, PERSON
from aotd.tools.clip import Clip
from aotd.tools.types import Box

_SYNONYMS = {"fridge": "refrigerator", "wardrobe": "closet/cabinet", "plate": "dish", "cellphone": "phone/camera"}
_NOT_DETECTED = frozenset({PERSON, "table"})  # not one box per scene, or never annotated

BoxTuple = tuple[float, float, float, float]


def resolve_class(query: str) -> str | None:
    """The vocabulary class a query names ("the fridge", "cup", "Cup/glass/bottle"), or None.

    ``person`` and ``table`` are not detectable classes: tables come several to a scene.
    """
    text = re.sub(r"\s+", " ", query.strip().lower().rstrip(".?!"))
    text = re.sub(r"^(the|a|an) ", "", text)
    for name in (text, text.removesuffix("s")):
        if name in OBJECTS:
            cls: str | None = name
        else:
            cls = _SYNONYMS.get(name) or next((c for c in OBJECTS if name in c.split("/")), None)
        if cls is not None:
            return None if cls in _NOT_DETECTED else cls
    return None


_WALL = (205.0, 195.0, 175.0)  # the world's nominal wall and floor colours
_FLOOR = (150.0, 130.0, 110.0)
_SIGMA = 32.0  # colour distance at which a pixel half-matches, after white balance
_LUMA_WEIGHT = 0.35  # brightness counts less than hue: lighting changes it most
_MIN_SCORE = 0.08  # inside-minus-surround match below which a frame gets no box

_PROTOTYPES = [c.name for c in OBJECTS.values()] + ["wall", "floor"]
_PROTO_RGB = np.array([c.color for c in OBJECTS.values()] + [_WALL, _FLOOR], np.float32)


def _features(rgb: np.ndarray) -> np.ndarray:
    """Coordinates in which Euclidean distance weighs chroma fully and brightness by _LUMA_WEIGHT."""
    luma = rgb.mean(axis=-1, keepdims=True)
    return np.concatenate([rgb - luma, np.sqrt(3 * _LUMA_WEIGHT) * luma], axis=-1)


_PROTO_FEATURES = _features(_PROTO_RGB)


class _FrameColours:
    """A frame's white-balanced colour features and the sum of all prototypes' likelihoods,
    computed once per frame and shared by every query (the per-class part is then cheap)."""

    def __init__(self, frame: np.ndarray) -> None:
        pixels = frame.reshape(-1, 3).astype(np.float32)
        median = np.median(pixels, axis=0)  # mostly wall: balancing it to the nominal wall undoes tint and gain
        self.shape = frame.shape[:2]
        self.features = _features(pixels * (np.array(_WALL, np.float32) / np.maximum(median, 1.0)))
        self.norms = (self.features**2).sum(1, keepdims=True)  # every query's distances start from these
        self.total = self._likelihood(_PROTO_FEATURES).sum(axis=1)

    def _likelihood(self, prototypes: np.ndarray) -> np.ndarray:
        f = self.features
        d2 = self.norms - 2 * f @ prototypes.T + (prototypes**2).sum(1)
        return np.exp(-np.maximum(d2, 0) / (2 * _SIGMA**2))

    def match(self, index: int) -> np.ndarray:
        """Each pixel's fit to one class: its likelihood times its share of all prototypes'
        likelihoods, so that pixels looking more like another class, the wall or the floor count little."""
        own = self._likelihood(_PROTO_FEATURES[index : index + 1])[:, 0]
        return (own * own / np.maximum(self.total, 1e-6)).reshape(self.shape)


def _window_sums(integral: np.ndarray, w: int, h: int) -> np.ndarray:
    """Sum of every w x h window; entry [y, x] is the window with top-left corner (x, y)."""
    return integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]


def _locate(match: np.ndarray, size: tuple[int, int]) -> tuple[BoxTuple, float] | None:
    """Best window of ``size`` by inside-minus-surround match, snapped to matching pixels."""
    height, width = match.shape
    w, h = min(size[0], width - 1), min(size[1], height - 1)
    ring = max(3, round(0.25 * min(w, h)))
    padded = np.pad(match, ring, mode="constant")
    integral = np.zeros((padded.shape[0] + 1, padded.shape[1] + 1), np.float64)
    integral[1:, 1:] = padded.cumsum(0).cumsum(1)
    inner = _window_sums(integral, w, h)[ring : ring + height - h + 1, ring : ring + width - w + 1]
    outer = _window_sums(integral, w + 2 * ring, h + 2 * ring)[: height - h + 1, : width - w + 1]
    fill = inner / (w * h)
    surround = (outer - inner) / ((w + 2 * ring) * (h + 2 * ring) - w * h)
    score = fill - surround
    y, x = np.unravel_index(int(score.argmax()), score.shape)
    best = float(score[y, x])
    if best < _MIN_SCORE:
        return None
    return _snap(match, (x, y, x + w, y + h)), min(1.0, best)


def _snap(match: np.ndarray, window: tuple[int, int, int, int]) -> BoxTuple:
    """Tighten or widen the window to the rows and columns that mostly match, within limits."""
    x1, y1, x2, y2 = window
    w, h = x2 - x1, y2 - y1
    ex, ey = w // 2, h // 2
    lx, ly = max(0, x1 - ex), max(0, y1 - ey)
    region = match[ly : y2 + ey, lx : x2 + ex] > 0.5
    cols, rows = region.sum(axis=0), region.sum(axis=1)
    if cols.max(initial=0) == 0:
        return float(x1), float(y1), float(x2), float(y2)
    on_c = np.flatnonzero(cols >= 0.35 * cols.max())
    on_r = np.flatnonzero(rows >= 0.35 * rows.max())
    bx1, bx2 = lx + on_c[0], lx + on_c[-1] + 1
    by1, by2 = ly + on_r[0], ly + on_r[-1] + 1
    if not (0.6 * w <= bx2 - bx1 <= 1.6 * w and 0.6 * h <= by2 - by1 <= 1.6 * h):
        return float(x1), float(y1), float(x2), float(y2)
    return float(bx1), float(by1), float(bx2), float(by2)


class ColorDetector:
    """Colour-and-size signature matching; at most one box per frame, none when nothing fits."""

    name = "color"

    def __init__(self) -> None:
        self._memo: tuple[SampledFrames, dict[int, _FrameColours]] | None = None

    def detect(self, clip: Clip, query: str) -> list[Box]:
        cls = resolve_class(query)
        if cls is None:
            return []
        prior = OBJECTS[cls]
        index = _PROTOTYPES.index(cls)
        if self._memo is None or self._memo[0] is not clip.sampled:
            self._memo = (clip.sampled, {})
        colours = self._memo[1]
        out = []
        for frame_id, frame in clip.items():
            if frame_id not in colours:
                colours[frame_id] = _FrameColours(frame)
            found = _locate(colours[frame_id].match(index), prior.size)
            if found is not None:
                (x1, y1, x2, y2), score = found
                out.append(Box(frame_id, x1, y1, x2, y2, cls, score))
        return out
