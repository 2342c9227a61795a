"""Simulate one episode of the embedded world: a room, a person and a script of actions.

The simulator is the world's single source of truth. It decides the scene and the action
script, then steps through every frame, producing ``FrameState``s (where the person and
every object are, what is held, open, eaten) and ``ActionEvent``s (each action's frame
window). The renderer turns frame states into pixels and the annotator turns them into
STAR situations, so pixels and annotations cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from aotd.embedded.world.vocab import FIXED, OBJECTS, PORTABLE, action_id, affords

FPS = 10
WIDTH, HEIGHT = 256, 192
FEET_Y = 160.0  # where the person stands
FLOOR_Y = 174.0  # where objects on the floor rest (nearer the camera than the person)
TABLE_TOP = 128.0
WALL_WINDOW_BOTTOM = 78.0
PERSON_SPEED = 9.0  # pixels per frame
KEYFRAME_STEP = 3  # a STAR situation every 3rd frame


@dataclass
class ObjectState:
    name: str
    x: float  # centre
    y: float  # bottom
    color: tuple[int, int, int]
    scale: float = 1.0
    opened: bool = False
    mode: str = "rest"  # rest | held | flying | gone
    support: str = "floor"  # floor | table0 | table1 | wall


@dataclass
class PersonState:
    x: float
    facing: int = 1  # +1 faces right, -1 left
    stride: float = 0.0  # walking phase; 0 when standing
    hand: tuple[float, float] = (0.0, 0.0)

    @property
    def shoulder(self) -> tuple[float, float]:
        return (self.x + 2 * self.facing, FEET_Y - 74)

    @property
    def head(self) -> tuple[float, float]:
        return (self.x + 2 * self.facing, FEET_Y - 90)


@dataclass
class FrameState:
    index: int
    person: PersonState
    objects: dict[str, ObjectState]
    actions: list[str] = field(default_factory=list)  # action ids active in this frame
    holding: str | None = None
    touching: str | None = None
    looking_at: str | None = None


@dataclass(frozen=True)
class ActionEvent:
    verb: str
    obj: str
    start: int  # first frame
    end: int  # last frame (inclusive)

    @property
    def aid(self) -> str:
        return action_id(self.verb, self.obj)

    def seconds(self, fps: float = FPS) -> tuple[float, float]:
        return round(self.start / fps, 2), round((self.end + 1) / fps, 2)


@dataclass(frozen=True)
class Table:
    x: float
    width: float = 70.0


@dataclass
class Scene:
    tables: list[Table]
    objects: dict[str, ObjectState]  # initial states
    person_x: float
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    wall: tuple[int, int, int]
    floor: tuple[int, int, int]


@dataclass
class Episode:
    scene: Scene
    frames: list[FrameState]
    events: list[ActionEvent]
    fps: int = FPS

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def keyframes(self, first: int = 0, last: int | None = None) -> list[int]:
        last = self.num_frames - 1 if last is None else last
        start = -(-first // KEYFRAME_STEP) * KEYFRAME_STEP
        return list(range(start, last + 1, KEYFRAME_STEP))


# --- scene --------------------------------------------------------------------------------
def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.uniform(-amount, amount), 0, 255)) for c in color)  # type: ignore[return-value]


def make_scene(rng: np.random.Generator, color_jitter: float) -> Scene:
    """Lay out furniture, tables and 3-6 portable objects with no two objects overlapping."""
    objects: dict[str, ObjectState] = {}
    n_fixed = int(rng.integers(1, 4))
    fixed = [str(f) for f in rng.choice(FIXED, size=n_fixed, replace=False)]
    standing = [f for f in fixed if f != "window"]
    xs = _spread(rng, len(standing), lo=30, hi=WIDTH - 30, gap=58)
    for name, x in zip(standing, xs):
        objects[name] = ObjectState(name, x, FEET_Y - 2, _jitter(rng, OBJECTS[name].color, color_jitter),
                                    opened=bool(rng.random() < 0.2), support="floor")
    if "window" in fixed:
        objects["window"] = ObjectState("window", float(rng.uniform(40, WIDTH - 40)), WALL_WINDOW_BOTTOM,
                                        _jitter(rng, OBJECTS["window"].color, color_jitter),
                                        opened=bool(rng.random() < 0.2), support="wall")
    tables = [Table(float(x)) for x in _spread(rng, int(rng.integers(1, 3)), lo=50, hi=WIDTH - 50, gap=90)]
    slots = [(t.x + dx, TABLE_TOP, f"table{i}") for i, t in enumerate(tables) for dx in (-24.0, 0.0, 24.0)]
    slots += [(x, FLOOR_Y, "floor") for x in np.linspace(18, WIDTH - 18, 8)]
    n_portable = int(rng.integers(3, 7))
    names = [str(n) for n in rng.choice(PORTABLE, size=n_portable, replace=False)]
    chosen = rng.choice(len(slots), size=n_portable, replace=False)
    for name, slot in zip(names, chosen):
        x, y, support = slots[int(slot)]
        cls = OBJECTS[name]
        objects[name] = ObjectState(name, float(x), y, _jitter(rng, cls.color, color_jitter),
                                    scale=float(rng.uniform(0.9, 1.15)),
                                    opened=bool(cls.openable and rng.random() < 0.25), support=support)
    return Scene(
        tables=tables,
        objects=objects,
        person_x=float(rng.uniform(30, WIDTH - 30)),
        shirt=tuple(int(c) for c in rng.integers(30, 230, size=3)),  # type: ignore[arg-type]
        pants=tuple(int(c) for c in rng.integers(20, 120, size=3)),  # type: ignore[arg-type]
        wall=_jitter(rng, (205, 195, 175), 25),
        floor=_jitter(rng, (150, 130, 110), 25),
    )


def _spread(rng: np.random.Generator, n: int, lo: float, hi: float, gap: float) -> list[float]:
    """n positions in [lo, hi] at least ``gap`` apart (fewer if they do not fit)."""
    out: list[float] = []
    for _ in range(200):
        if len(out) == n:
            break
        x = float(rng.uniform(lo, hi))
        if all(abs(x - o) >= gap for o in out):
            out.append(x)
    return sorted(out)


# --- script -------------------------------------------------------------------------------
_DURATION = {"take": (12, 17), "put": (12, 17), "open": (12, 18), "close": (12, 18),
             "hold": (14, 22), "throw": (12, 15), "eat": (16, 22)}


def _candidates(objects: dict[str, ObjectState], holding: str | None, done: set[tuple[str, str]],
                last: tuple[str, str] | None) -> list[tuple[tuple[str, str], float]]:
    """Feasible next actions with weights that make scripts habitual (so Prediction is learnable)."""
    out: list[tuple[tuple[str, str], float]] = []

    def add(verb: str, obj: str, weight: float) -> None:
        if (verb, obj) not in done and affords(verb, OBJECTS[obj]):
            out.append(((verb, obj), weight))

    for name, o in objects.items():
        cls = OBJECTS[name]
        if o.mode == "gone":
            continue
        if holding is None and o.mode == "rest" and cls.portable:
            add("take", name, 3.0)
        if cls.openable and o.mode == "rest" and (holding is None or cls.fixed):
            just_opened = last == ("open", name)
            add("close" if o.opened else "open", name, 4.0 if just_opened else (2.0 if cls.fixed else 1.2))
    if holding is not None:
        add("eat", holding, 5.0)
        add("hold", holding, 2.0)
        add("put", holding, 2.0 if last and last[0] != "take" else 1.5)
        add("throw", holding, 1.0)
    return out


def plan_script(rng: np.random.Generator, scene: Scene) -> list[tuple[str, str]]:
    """The ordered (verb, object) actions of an episode; each action class at most once."""
    objects = {k: replace(v) for k, v in scene.objects.items()}
    holding: str | None = None
    done: set[tuple[str, str]] = set()
    script: list[tuple[str, str]] = []
    last = None
    for _ in range(int(rng.integers(4, 8))):
        options = _candidates(objects, holding, done, last)
        if not options:
            break
        weights = np.array([w for _, w in options])
        verb, obj = options[int(rng.choice(len(options), p=weights / weights.sum()))][0]
        script.append((verb, obj))
        done.add((verb, obj))
        last = (verb, obj)
        o = objects[obj]
        if verb == "take":
            holding, o.mode = obj, "held"
        elif verb in ("put", "throw"):
            holding, o.mode = None, "rest"
        elif verb == "eat":
            holding, o.mode = None, "gone"
        elif verb in ("open", "close"):
            o.opened = verb == "open"
    return script


# --- frame-by-frame simulation ------------------------------------------------------------
class _Simulator:
    def __init__(self, rng: np.random.Generator, scene: Scene) -> None:
        self.rng = rng
        self.objects = {k: replace(v) for k, v in scene.objects.items()}
        self.person = PersonState(scene.person_x, facing=1 if rng.random() < 0.5 else -1)
        self.person.hand = self._rest_hand()
        self.holding: str | None = None
        self.frames: list[FrameState] = []
        self.events: list[ActionEvent] = []
        self.tables = scene.tables

    # hand poses relative to the body
    def _rest_hand(self) -> tuple[float, float]:
        sx, sy = self.person.shoulder
        return (sx + 3 * self.person.facing, sy + 30)

    def _carry_hand(self) -> tuple[float, float]:
        sx, sy = self.person.shoulder
        return (sx + 15 * self.person.facing, sy + 20)

    def _raised_hand(self) -> tuple[float, float]:
        sx, sy = self.person.shoulder
        return (sx + 6 * self.person.facing, sy - 34)

    def _mouth(self) -> tuple[float, float]:
        hx, hy = self.person.head
        return (hx + 10 * self.person.facing, hy + 6)

    def _snapshot(self, actions: list[str], touching: str | None, looking: str | None) -> None:
        if self.holding is not None:
            held = self.objects[self.holding]
            held.x, held.y = self.person.hand[0], self.person.hand[1] + 5 * held.scale
        self.frames.append(FrameState(
            index=len(self.frames),
            person=replace(self.person),
            objects={k: replace(v) for k, v in self.objects.items()},
            actions=actions,
            holding=self.holding,
            touching=touching,
            looking_at=looking,
        ))

    def idle(self, n: int, looking: str | None = None) -> None:
        for _ in range(n):
            self.person.stride = 0.0
            self.person.hand = self._carry_hand() if self.holding else self._rest_hand()
            self._snapshot([], None, looking)

    def walk_to(self, x: float, looking: str | None) -> None:
        x = float(np.clip(x, 14, WIDTH - 14))
        while abs(self.person.x - x) > 0.5:
            step = float(np.clip(x - self.person.x, -PERSON_SPEED, PERSON_SPEED))
            self.person.facing = 1 if step > 0 else -1
            self.person.x += step
            self.person.stride += abs(step) / 6.0
            self.person.hand = self._carry_hand() if self.holding else self._rest_hand()
            self._snapshot([], None, looking)
        self.person.stride = 0.0

    def face(self, x: float) -> None:
        if abs(x - self.person.x) > 1:
            self.person.facing = 1 if x > self.person.x else -1

    def act(self, verb: str, obj: str) -> None:
        o = self.objects[obj]
        self._approach(verb, o)
        lo, hi = _DURATION[verb]
        n = int(self.rng.integers(lo, hi + 1))
        start = len(self.frames)
        aid = action_id(verb, obj)
        dest = self._destination(verb, o)
        origin = (o.x, o.y)
        for i in range(n):
            p = i / (n - 1)
            touching = self._step(verb, o, p, origin, dest)
            self._snapshot([aid], touching, obj if o.mode != "gone" else None)
        self.events.append(ActionEvent(verb, obj, start, len(self.frames) - 1))

    def _approach(self, verb: str, o: ObjectState) -> None:
        if verb in ("hold", "throw", "eat"):
            return  # done where the person stands
        if verb == "put":
            spot_x = self._put_spot[0]
            self.walk_to(spot_x + (16.0 if self.person.x > spot_x else -16.0), None)
            return self.face(spot_x)
        cls = OBJECTS[o.name]
        side = 16.0 if self.person.x > o.x else -16.0
        target = o.x if cls.fixed else o.x + side
        self.walk_to(target, o.name)
        self.face(o.x if not cls.fixed else o.x + 1)

    def _free_spot(self) -> tuple[float, float, str]:
        taken = [(o.x, o.support) for o in self.objects.values() if o.mode == "rest"]
        spots = [(t.x + dx, TABLE_TOP, f"table{i}") for i, t in enumerate(self.tables) for dx in (-24.0, 0.0, 24.0)]
        spots += [(float(x), FLOOR_Y, "floor") for x in np.linspace(18, WIDTH - 18, 8)]
        free = [s for s in spots if all(abs(s[0] - x) > 14 or s[2] != sup for x, sup in taken)]
        free.sort(key=lambda s: abs(s[0] - self.person.x))
        return free[int(self.rng.integers(0, min(3, len(free))))] if free else spots[0]

    def _destination(self, verb: str, o: ObjectState) -> tuple[float, float, str] | None:
        if verb == "put":
            return self._put_spot
        if verb == "throw":
            dist = float(self.rng.uniform(45, 90))
            x = self.person.x + dist * self.person.facing
            if not 12 < x < WIDTH - 12:
                x = self.person.x - dist * self.person.facing
            return (float(np.clip(x, 12, WIDTH - 12)), FLOOR_Y, "floor")
        return None

    def _step(self, verb: str, o: ObjectState, p: float, origin: tuple[float, float],
              dest: tuple[float, float, str] | None) -> str | None:
        """Advance one frame of an action at progress p in [0, 1]; return what is touched."""
        hand0 = self._carry_hand() if self.holding else self._rest_hand()
        if verb == "take":
            grip = (o.x, o.y - 6) if o.mode == "rest" else self.person.hand
            if p <= 0.5:
                self.person.hand = _lerp(self._rest_hand(), grip, p / 0.5)
            else:
                if self.holding is None:
                    self.holding, o.mode = o.name, "held"
                self.person.hand = _lerp(grip, self._carry_hand(), (p - 0.5) / 0.5)
            return o.name if 0.3 <= p <= 0.7 else None
        if verb == "put":
            assert dest is not None
            target = (dest[0], dest[1] - 6)
            if p <= 0.5:
                self.person.hand = _lerp(self._carry_hand(), target, p / 0.5)
            else:
                if self.holding == o.name:
                    self.holding, o.mode, o.support = None, "rest", dest[2]
                    o.x, o.y = dest[0], dest[1]
                self.person.hand = _lerp(target, self._rest_hand(), (p - 0.5) / 0.5)
            return o.name if 0.3 <= p <= 0.7 else None
        if verb in ("open", "close"):
            cls = OBJECTS[o.name]
            handle = (o.x - 0.3 * cls.size[0] * self.person.facing, o.y - 0.55 * cls.size[1]) if cls.fixed else (o.x, o.y - 6)
            if p < 0.4:
                self.person.hand = _lerp(hand0, handle, p / 0.4)
            elif p < 0.75:
                self.person.hand = handle
                if p >= 0.5:
                    o.opened = verb == "open"
            else:
                self.person.hand = _lerp(handle, hand0, (p - 0.75) / 0.25)
            return o.name if 0.3 <= p <= 0.8 else None
        if verb == "hold":
            if p < 0.3:
                self.person.hand = _lerp(self._carry_hand(), self._raised_hand(), p / 0.3)
            elif p < 0.8:
                self.person.hand = self._raised_hand()
            else:
                self.person.hand = _lerp(self._raised_hand(), self._carry_hand(), (p - 0.8) / 0.2)
            return None
        if verb == "throw":
            assert dest is not None
            if p < 0.3:
                back = (self.person.shoulder[0] - 12 * self.person.facing, self.person.shoulder[1] - 20)
                self.person.hand = _lerp(self._carry_hand(), back, p / 0.3)
            elif self.holding == o.name:
                self.holding, o.mode = None, "flying"
                self._throw_from = (o.x, o.y)
            if o.mode == "flying":
                q = (p - 0.3) / 0.7
                (x0, y0), (x1, y1) = self._throw_from, (dest[0], dest[1])
                o.x = x0 + (x1 - x0) * q
                o.y = y0 + (y1 - y0) * q - 60 * q * (1 - q)
                self.person.hand = _lerp(self.person.hand, self._rest_hand(), 0.3)
                if p >= 1.0:
                    o.mode, o.support, o.x, o.y = "rest", "floor", x1, y1
            return None
        if verb == "eat":
            if p < 0.3:
                self.person.hand = _lerp(self._carry_hand(), self._mouth(), p / 0.3)
            elif p < 0.9:
                self.person.hand = self._mouth()
                o.scale = max(0.25, o.scale * 0.93)
            elif self.holding == o.name:
                self.holding, o.mode = None, "gone"
                self.person.hand = self._rest_hand()
            return o.name if p < 0.9 else None
        raise KeyError(verb)

    def run(self, script: list[tuple[str, str]]) -> tuple[list[FrameState], list[ActionEvent]]:
        self.idle(int(self.rng.integers(3, 7)))
        for verb, obj in script:
            if verb == "put":
                self._put_spot = self._free_spot()
            self.act(verb, obj)
            self.idle(int(self.rng.integers(3, 7)))
        return self.frames, self.events


def _lerp(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    t = min(max(t, 0.0), 1.0)
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def simulate(rng: np.random.Generator, color_jitter: float = 20.0) -> Episode:
    scene = make_scene(rng, color_jitter)
    script = plan_script(rng, scene)
    frames, events = _Simulator(rng, scene).run(script)
    return Episode(scene=scene, frames=frames, events=events)
