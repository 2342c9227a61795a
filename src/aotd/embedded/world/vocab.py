"""The embedded world's vocabulary: object classes with their look and affordances,
verbs with their surface forms, relationships, and the STAR class files built from them.

Looks are chosen so that classes can be told apart, but not by one cue alone: several
share a colour family (cup / window / medicine, box / closet / door / shoe) or a shape
(book / paper / phone / towel are all upright rectangles), and per-video colour jitter
and lighting blur the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from aotd.data.keyframes import UNSCORED
from aotd.data.star_classes import StarClasses


@dataclass(frozen=True)
class ObjectClass:
    name: str
    shape: str  # rect | ellipse | triangle | trapezoid | cylinder | halfdisc
    color: tuple[int, int, int]
    size: tuple[int, int]  # width, height in pixels at scale 1
    pattern: str = ""  # stripes | checker | band | lines | dots | ""
    portable: bool = True
    openable: bool = False
    edible: bool = False
    throwable: bool = False
    fixed: bool = False  # furniture standing on the floor or hanging on the wall
    actionable: bool = True


PERSON = "person"

OBJECT_CLASSES: tuple[ObjectClass, ...] = (
    ObjectClass(PERSON, "person", (200, 160, 130), (20, 100), portable=False, actionable=False),
    ObjectClass("book", "rect", (40, 70, 170), (14, 19), "band", openable=True, throwable=True),
    ObjectClass("cup/glass/bottle", "cylinder", (90, 180, 210), (9, 15), throwable=True),
    ObjectClass("box", "rect", (150, 105, 60), (22, 17), "band", openable=True),
    ObjectClass("laptop", "rect", (120, 120, 130), (24, 5), openable=True),
    ObjectClass("phone/camera", "rect", (45, 45, 55), (8, 13), "dots", throwable=True),
    ObjectClass("sandwich", "triangle", (215, 175, 100), (17, 11), "band", edible=True),
    ObjectClass("food", "ellipse", (230, 120, 40), (15, 10), edible=True),
    ObjectClass("medicine", "cylinder", (235, 235, 225), (8, 11), "band", edible=True),
    ObjectClass("towel", "rect", (200, 80, 120), (14, 20), "stripes", throwable=True),
    ObjectClass("pillow", "ellipse", (170, 150, 215), (23, 13), throwable=True),
    ObjectClass("shoe", "halfdisc", (110, 70, 40), (17, 9), throwable=True),
    ObjectClass("bag", "trapezoid", (160, 40, 50), (18, 17), openable=True, throwable=True),
    ObjectClass("blanket", "rect", (90, 150, 90), (27, 15), "checker", throwable=True),
    ObjectClass("dish", "ellipse", (225, 225, 235), (19, 6), "band"),
    ObjectClass("paper/notebook", "rect", (235, 230, 205), (13, 17), "lines", throwable=True),
    ObjectClass("closet/cabinet", "rect", (130, 90, 55), (48, 100), "band", portable=False, openable=True, fixed=True),
    ObjectClass("refrigerator", "rect", (215, 220, 225), (42, 106), "band", portable=False, openable=True, fixed=True),
    ObjectClass("door", "rect", (160, 120, 80), (42, 114), "dots", portable=False, openable=True, fixed=True),
    ObjectClass("window", "rect", (150, 200, 230), (50, 38), "lines", portable=False, openable=True, fixed=True),
    # two more edible classes, so that an "eat" question has three wrong options that could be eaten too
    ObjectClass("apple", "ellipse", (200, 45, 45), (10, 10), "dots", edible=True, throwable=True),
    ObjectClass("banana", "halfdisc", (235, 205, 60), (18, 7), edible=True),
    ObjectClass("table", "table", (120, 85, 60), (70, 32), portable=False, actionable=False),
)

OBJECTS: dict[str, ObjectClass] = {c.name: c for c in OBJECT_CLASSES}
PORTABLE = tuple(c.name for c in OBJECT_CLASSES if c.portable)
FIXED = tuple(c.name for c in OBJECT_CLASSES if c.fixed)
DETECTABLE: tuple[str, ...] = tuple(c.name for c in OBJECT_CLASSES if c.name not in UNSCORED)
"""The classes a single-box-per-frame detector can answer: unique in a scene and annotated
(``data.keyframes.scored_classes`` of the world's class files)."""


@dataclass(frozen=True)
class Verb:
    name: str  # STAR verb class name, used in programs
    base: str  # "put down", for "before they put down the book"
    past: str  # "took"
    gerund: str  # "taking"
    participle: str  # "taken", for "Which object was taken by the person?"
    action_phrase: str  # "Taking {a}" for action_classes.txt


VERBS: dict[str, Verb] = {
    v.name: v
    for v in (
        Verb("take", "take", "took", "taking", "taken", "Taking {a}"),
        Verb("put", "put down", "put down", "putting down", "put down", "Putting {a} somewhere"),
        Verb("open", "open", "opened", "opening", "opened", "Opening {a}"),
        Verb("close", "close", "closed", "closing", "closed", "Closing {a}"),
        Verb("hold", "hold", "held", "holding", "held", "Holding {a}"),
        Verb("throw", "throw", "threw", "throwing", "thrown", "Throwing {a} somewhere"),
        Verb("eat", "eat", "ate", "eating", "eaten", "Eating {a}"),
    )
}

RELATIONSHIPS = ("holding", "touching", "looking_at", "in_front_of", "next_to", "on")


def affords(verb: str, obj: ObjectClass) -> bool:
    """Whether an action (verb, object) exists in the world's action space."""
    if not obj.actionable:
        return False
    if verb in ("take", "put", "hold"):
        return obj.portable
    if verb in ("open", "close"):
        return obj.openable
    if verb == "throw":
        return obj.throwable
    if verb == "eat":
        return obj.edible
    raise KeyError(verb)


def _article(name: str) -> str:
    first = name.split("/")[0]
    return ("an " if first[0] in "aeiou" else "a ") + first


@lru_cache(maxsize=1)
def world_classes() -> StarClasses:
    """The world's STAR class files, ids assigned in declaration order."""
    objects = {f"o{i:03d}": c.name for i, c in enumerate(OBJECT_CLASSES)}
    verbs = {f"v{i:03d}": v for i, v in enumerate(VERBS)}
    rels = {f"r{i:03d}": r for i, r in enumerate(RELATIONSHIPS)}
    obj_id = {name: oid for oid, name in objects.items()}
    verb_id = {name: vid for vid, name in verbs.items()}
    actions: dict[str, str] = {}
    mapping: dict[str, tuple[str, str]] = {}
    for verb in VERBS.values():
        for cls in OBJECT_CLASSES:
            if affords(verb.name, cls):
                aid = f"a{len(actions):03d}"
                actions[aid] = verb.action_phrase.format(a=_article(cls.name))
                mapping[aid] = (verb_id[verb.name], obj_id[cls.name])
    return StarClasses(objects=objects, verbs=verbs, relationships=rels, actions=actions, action_map=mapping)


def object_id(name: str) -> str:
    oid = world_classes().object_id(name)
    assert oid is not None, name
    return oid


def action_id(verb: str, obj: str) -> str:
    aid = world_classes().action_id(verb, obj)
    if aid is None:
        raise KeyError(f"no action ({verb}, {obj}) in the world's action space")
    return aid


def relationship_id(name: str) -> str:
    rid = world_classes().relationship_id(name)
    assert rid is not None, name
    return rid
