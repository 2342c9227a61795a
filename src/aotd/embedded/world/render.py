"""Draw simulated frames as pixels, with the nuisances that make vision tools err.

``object_box`` is the one place that says how big an object is drawn; the renderer draws
inside it and the annotator reports it, so ground-truth boxes match the pixels exactly
(shifted by the same camera jitter the frame gets).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from aotd.embedded.world.simulate import (
    FEET_Y,
    HEIGHT,
    TABLE_TOP,
    WIDTH,
    Episode,
    FrameState,
    ObjectState,
    PersonState,
    Table,
)
from aotd.embedded.world.vocab import OBJECTS

MARGIN = 8  # canvas border that camera jitter pans into
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Noise:
    """Nuisance strengths derived from one level in [0, 1]."""

    level: float
    color_jitter: float
    camera: float  # max pan in pixels
    lighting: float  # max relative change of brightness
    pixel_sigma: float
    occluder_prob: float
    clutter: int

    @classmethod
    def from_level(cls, level: float) -> Noise:
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"noise level must be in [0, 1], got {level}")
        return cls(
            level=level,
            color_jitter=8 + 40 * level,
            camera=4.0 * level,
            lighting=0.4 * level,
            pixel_sigma=1.0 + 9.0 * level,
            occluder_prob=0.9 * level,
            clutter=int(round(6 * level)),
        )


NOISE_LEVELS = {"none": 0.0, "low": 0.25, "medium": 0.5, "high": 0.8}


def parse_noise(value: str | float) -> float:
    """A noise level from a name (none / low / medium / high) or a number in [0, 1]."""
    if isinstance(value, str) and value in NOISE_LEVELS:
        return NOISE_LEVELS[value]
    try:
        level = float(value)
    except ValueError:
        raise ValueError(f"noise must be one of {', '.join(NOISE_LEVELS)} or a number in [0, 1], got {value!r}") from None
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {level}")
    return level


# --- geometry ---------------------------------------------------------------------------
def object_box(o: ObjectState) -> Box | None:
    """The drawn extent of an object in scene coordinates, or None when it is gone."""
    if o.mode == "gone":
        return None
    cls = OBJECTS[o.name]
    w, h = cls.size[0] * o.scale, cls.size[1] * o.scale
    x, y = o.x, o.y
    if o.opened:
        if o.name == "laptop":
            h = 17 * o.scale
        elif o.name == "book":
            w, h = w * 1.8, h * 0.45
        elif o.name == "box":
            h += 7 * o.scale
        elif cls.fixed and o.name != "window":
            return (x - w / 2 - 12, y - h, x + w / 2, y)  # the swung door panel sticks out left
    return (x - w / 2, y - h, x + w / 2, y)


def table_box(t: Table) -> Box:
    return (t.x - t.width / 2, TABLE_TOP, t.x + t.width / 2, FEET_Y)


def _shade(color: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * f))) for c in color)  # type: ignore[return-value]


# --- drawing ----------------------------------------------------------------------------
class Renderer:
    """Renders an episode's frames; one instance per episode (it keeps the static layer)."""

    def __init__(self, episode: Episode, noise: Noise, rng: np.random.Generator) -> None:
        self.ep, self.noise, self.rng = episode, noise, rng
        self.background = self._background()
        n = episode.num_frames
        # camera: a smooth random walk, lighting: a base level plus slow flicker
        walk = np.cumsum(rng.normal(0, 0.6, size=(n, 2)), axis=0)
        walk -= walk.mean(axis=0)
        span = max(1e-6, float(np.abs(walk).max()))
        self.pan = np.clip(walk / span * noise.camera, -noise.camera, noise.camera)
        base = 1.0 + rng.uniform(-noise.lighting, noise.lighting * 0.5)
        phase = rng.uniform(0, 2 * math.pi)
        self.gain = base * (1 + 0.25 * noise.lighting * np.sin(np.arange(n) / 9.0 + phase))
        self.tint = rng.uniform(-25 * noise.level, 25 * noise.level, size=3).astype(np.float32)
        self.noise_bank = [rng.normal(0, noise.pixel_sigma, size=(HEIGHT, WIDTH, 3)).astype(np.float32) for _ in range(5)]
        self.occluders = self._occluders()

    def _background(self) -> Image.Image:
        scene = self.ep.scene
        img = Image.new("RGB", (WIDTH + 2 * MARGIN, HEIGHT + 2 * MARGIN), scene.wall)
        d = ImageDraw.Draw(img)
        m = MARGIN
        d.rectangle([0, FEET_Y - 12 + m, WIDTH + 2 * m, HEIGHT + 2 * m], fill=scene.floor)
        d.line([0, FEET_Y - 12 + m, WIDTH + 2 * m, FEET_Y - 12 + m], fill=_shade(scene.floor, 0.6), width=2)
        for _ in range(self.noise.clutter):  # shapes that belong to no class: posters, stains, junk
            color = tuple(int(c) for c in self.rng.integers(40, 230, size=3))
            x, y = float(self.rng.uniform(5, WIDTH - 5)), float(self.rng.uniform(10, HEIGHT - 10))
            r = float(self.rng.uniform(4, 12))
            pts = [(x + m + r * math.cos(a), y + m + r * math.sin(a)) for a in np.sort(self.rng.uniform(0, 2 * math.pi, 5))]
            d.polygon(pts, fill=color)
        return img

    def _occluders(self) -> list[tuple[float, float, float, float, tuple[int, int, int]]]:
        out = []
        if self.rng.random() < self.noise.occluder_prob:
            for _ in range(int(self.rng.integers(1, 3))):
                w, h = float(self.rng.uniform(10, 24)), float(self.rng.uniform(40, 100))
                x0, x1 = (-w, WIDTH + w) if self.rng.random() < 0.5 else (WIDTH + w, -w)
                color = tuple(int(c) for c in self.rng.integers(50, 140, size=3))
                out.append((x0, x1, w, h, color))
        return out

    def frames(self) -> Iterator[tuple[np.ndarray, dict[str, Box]]]:
        """Yield (RGB frame, boxes of the objects visible in it in image coordinates)."""
        for state in self.ep.frames:
            yield self.frame(state)

    def frame(self, state: FrameState) -> tuple[np.ndarray, dict[str, Box]]:
        img = self.background.copy()
        d = ImageDraw.Draw(img)
        m = MARGIN
        objs = state.objects
        drawn_tables = drawn_person = False
        for o in sorted(objs.values(), key=_layer):
            layer = _layer(o)
            if not drawn_tables and layer >= 2:
                self._tables(d)
                drawn_tables = True
            if not drawn_person and layer >= 3:
                self._person(d, state.person)
                drawn_person = True
            if o.mode != "gone":
                _draw_object(d, o, m)
        if not drawn_tables:
            self._tables(d)
        if not drawn_person:
            self._person(d, state.person)
        n = self.ep.num_frames
        for x0, x1, w, h, color in self.occluders:
            x = x0 + (x1 - x0) * state.index / max(1, n - 1)
            d.rounded_rectangle([x - w / 2 + m, HEIGHT - h + m, x + w / 2 + m, HEIGHT + m], radius=8, fill=color)
        dx, dy = self.pan[state.index]
        ox, oy = int(round(m + dx)), int(round(m + dy))
        # the view, then gain, tint and noise in place, on the cropped pixels only: the same float64
        # operations in the same order as on fresh arrays (the gain is a float64), so the same bytes
        arr = np.asarray(img)[oy : oy + HEIGHT, ox : ox + WIDTH].astype(np.float64)
        arr *= self.gain[state.index]
        arr += self.tint
        arr += self.noise_bank[state.index % len(self.noise_bank)]
        frame = np.clip(arr, 0, 255, out=arr).astype(np.uint8)
        boxes: dict[str, Box] = {}
        shift = (ox - m, oy - m)
        for o in objs.values():
            box = object_box(o)
            if box is not None:
                clipped = _clip((box[0] - shift[0], box[1] - shift[1], box[2] - shift[0], box[3] - shift[1]))
                if clipped is not None:
                    boxes[o.name] = clipped
        for i, t in enumerate(self.ep.scene.tables):
            tb = table_box(t)
            clipped = _clip((tb[0] - shift[0], tb[1] - shift[1], tb[2] - shift[0], tb[3] - shift[1]))
            if clipped is not None:
                boxes[f"table#{i}"] = clipped
        return frame, boxes

    def _tables(self, d: ImageDraw.ImageDraw) -> None:
        m = MARGIN
        for t in self.ep.scene.tables:
            x1, y1, x2, y2 = table_box(t)
            color = OBJECTS["table"].color
            d.rectangle([x1 + m, y1 + m, x2 + m, y1 + 5 + m], fill=color)
            for lx in (x1 + 4, x2 - 8):
                d.rectangle([lx + m, y1 + 5 + m, lx + 4 + m, y2 + m], fill=_shade(color, 0.7))

    def _person(self, d: ImageDraw.ImageDraw, p: PersonState) -> None:
        m = MARGIN
        scene = self.ep.scene
        skin = (205, 165, 135)
        hip = (p.x + m, FEET_Y - 35 + m)
        swing = 7 * math.sin(p.stride)
        for sgn in (1, -1):
            d.line([hip, (p.x + sgn * swing + m, FEET_Y + m)], fill=scene.pants, width=6)
        d.rectangle([p.x - 9 + m, FEET_Y - 80 + m, p.x + 9 + m, FEET_Y - 33 + m], fill=scene.shirt)
        hx, hy = p.head
        d.ellipse([hx - 9 + m, hy - 9 + m, hx + 9 + m, hy + 9 + m], fill=skin)
        d.ellipse([hx + 3 * p.facing - 2 + m, hy - 3 + m, hx + 3 * p.facing + 2 + m, hy + 1 + m], fill=(40, 30, 30))
        sx, sy = p.shoulder
        d.line([(sx + m, sy + m), (p.hand[0] + m, p.hand[1] + m)], fill=_shade(scene.shirt, 0.8), width=5)
        d.ellipse([p.hand[0] - 3 + m, p.hand[1] - 3 + m, p.hand[0] + 3 + m, p.hand[1] + 3 + m], fill=skin)


def _layer(o: ObjectState) -> int:
    """Painter's order: wall items, furniture, table tops, (person), floor items, in-hand."""
    if o.support == "wall":
        return 0
    if OBJECTS[o.name].fixed:
        return 1
    if o.mode in ("held", "flying"):
        return 5
    if o.support.startswith("table"):
        return 2
    return 4


def _clip(box: Box) -> Box | None:
    x1, y1, x2, y2 = max(0.0, box[0]), max(0.0, box[1]), min(float(WIDTH), box[2]), min(float(HEIGHT), box[3])
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return (round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1))


def _draw_object(d: ImageDraw.ImageDraw, o: ObjectState, m: int) -> None:
    cls = OBJECTS[o.name]
    box = object_box(o)
    assert box is not None
    x1, y1, x2, y2 = box[0] + m, box[1] + m, box[2] + m, box[3] + m
    dark = _shade(o.color, 0.55)
    light = _shade(o.color, 1.3)
    if cls.fixed:
        _draw_furniture(d, o, (x1, y1, x2, y2), dark, light)
        return
    shape = cls.shape
    if o.name == "laptop":
        d.rectangle([x1, y2 - 4 * o.scale, x2, y2], fill=o.color)
        if o.opened:
            d.rectangle([x1 + 2, y1, x2 - 2, y2 - 4 * o.scale], fill=dark)
            d.rectangle([x1 + 4, y1 + 2, x2 - 4, y2 - 6 * o.scale], fill=(120, 170, 220))
        return
    if o.name == "book" and o.opened:
        d.rectangle([x1, y1, x2, y2], fill=(235, 232, 220), outline=o.color, width=2)
        d.line([((x1 + x2) / 2, y1), ((x1 + x2) / 2, y2)], fill=dark, width=1)
        return
    if shape == "rect":
        d.rectangle([x1, y1, x2, y2], fill=o.color)
    elif shape == "ellipse":
        d.ellipse([x1, y1, x2, y2], fill=o.color)
    elif shape == "triangle":
        d.polygon([(x1, y2), (x2, y2), ((x1 + x2) / 2 + (x2 - x1) * 0.2, y1)], fill=o.color)
    elif shape == "trapezoid":
        inset = (x2 - x1) * 0.18
        d.polygon([(x1, y2), (x2, y2), (x2 - inset, y1 + 4), (x1 + inset, y1 + 4)], fill=o.color)
        d.arc([x1 + inset, y1, x2 - inset, y1 + 9], 180, 360, fill=dark, width=2)
        if o.opened:
            d.ellipse([x1 + inset, y1 + 2, x2 - inset, y1 + 7], fill=(30, 20, 20))
    elif shape == "cylinder":
        d.rectangle([x1, y1 + 2, x2, y2], fill=o.color)
        d.ellipse([x1, y1, x2, y1 + 4], fill=light)
    elif shape == "halfdisc":
        d.pieslice([x1, y1, x2, y2 + (y2 - y1)], 180, 360, fill=o.color)
        d.rectangle([x1, y2 - 2, x2, y2], fill=dark)
    _pattern(d, cls.pattern, (x1, y1, x2, y2), dark, light)
    if o.name == "box" and o.opened:
        flap = 7 * o.scale
        d.polygon([(x1, y1 + flap), (x1 - 4, y1), (x1 + 6, y1 + flap)], fill=light)
        d.polygon([(x2, y1 + flap), (x2 + 4, y1), (x2 - 6, y1 + flap)], fill=light)
        d.rectangle([x1 + 2, y1 + flap, x2 - 2, y1 + flap + 3], fill=(40, 30, 20))


def _pattern(d: ImageDraw.ImageDraw, pattern: str, box: Box, dark: tuple[int, int, int], light: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if pattern == "band":
        d.rectangle([x1, y1 + h * 0.4, x2, y1 + h * 0.58], fill=dark)
    elif pattern == "stripes":
        for i in range(1, 4):
            x = x1 + w * i / 4
            d.line([(x, y1), (x, y2)], fill=light, width=2)
    elif pattern == "checker":
        for i in range(4):
            for j in range(2):
                if (i + j) % 2:
                    d.rectangle([x1 + w * i / 4, y1 + h * j / 2, x1 + w * (i + 1) / 4, y1 + h * (j + 1) / 2], fill=dark)
    elif pattern == "lines":
        for i in range(1, 4):
            y = y1 + h * i / 4
            d.line([(x1 + 1, y), (x2 - 1, y)], fill=dark, width=1)
    elif pattern == "dots":
        for i in range(2):
            cx, cy = x1 + w * (0.3 + 0.4 * i), y1 + h * 0.3
            d.ellipse([cx - 1.5, cy - 1.5, cx + 1.5, cy + 1.5], fill=light)


def _draw_furniture(d: ImageDraw.ImageDraw, o: ObjectState, box: Box, dark: tuple[int, int, int], light: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = box
    if o.name == "window":
        d.rectangle([x1, y1, x2, y2], fill=o.color, outline=(235, 235, 235), width=3)
        mid = (y1 + y2) / 2
        if o.opened:  # lower sash pushed up: a gap of outside air
            d.rectangle([x1 + 3, mid, x2 - 3, y2 - 3], fill=(70, 110, 60))
            d.line([(x1, mid - 4), (x2, mid - 4)], fill=(235, 235, 235), width=3)
        else:
            d.line([(x1, mid), (x2, mid)], fill=(235, 235, 235), width=3)
        d.line([((x1 + x2) / 2, y1), ((x1 + x2) / 2, y2)], fill=(235, 235, 235), width=2)
        return
    body_x1 = x1 + 12 if o.opened else x1
    if o.opened:
        inside = (250, 245, 200) if o.name == "refrigerator" else (35, 30, 28)
        d.rectangle([body_x1, y1, x2, y2], fill=o.color)
        d.rectangle([body_x1 + 4, y1 + 4, x2 - 4, y2 - 4], fill=inside)
        if o.name == "refrigerator":
            for k in range(1, 4):
                y = y1 + (y2 - y1) * k / 4
                d.line([(body_x1 + 4, y), (x2 - 4, y)], fill=(190, 190, 190), width=2)
        d.rectangle([x1, y1 + 2, x1 + 11, y2 - 2], fill=dark)  # the swung door, seen edge-on
        return
    d.rectangle([x1, y1, x2, y2], fill=o.color, outline=dark, width=2)
    if o.name == "closet/cabinet":
        d.line([((x1 + x2) / 2, y1), ((x1 + x2) / 2, y2)], fill=dark, width=2)
        for sx in (-4, 4):
            cx = (x1 + x2) / 2 + sx
            d.ellipse([cx - 2, (y1 + y2) / 2 - 2, cx + 2, (y1 + y2) / 2 + 2], fill=light)
    elif o.name == "refrigerator":
        y = y1 + (y2 - y1) * 0.35
        d.line([(x1, y), (x2, y)], fill=dark, width=2)
        d.rectangle([x2 - 8, y1 + 10, x2 - 5, y - 6], fill=dark)
        d.rectangle([x2 - 8, y + 6, x2 - 5, y + 30], fill=dark)
    elif o.name == "door":
        d.rectangle([x1 + 6, y1 + 8, x2 - 6, y1 + 45], outline=dark, width=2)
        d.ellipse([x2 - 10, (y1 + y2) / 2 - 3, x2 - 4, (y1 + y2) / 2 + 3], fill=(220, 200, 80))
