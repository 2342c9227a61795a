"""What the world's rules allow, as far as a question's text can tell: the option spaces of
the question templates.

A wrong option that breaks a rule the text implies can be ruled out without looking (an
"eaten" window, "put down the cup" right after "took the book"), so a template's wrong
options are drawn only from what these functions allow. The rules mirror the simulator's
(``simulate._candidates``): one object in the hand at a time; take, put, hold, throw and eat
need that hand; portable things are opened or closed with a free hand, furniture at any time;
an eaten object is gone; each action happens at most once in an episode.
"""

from __future__ import annotations

from functools import cache, lru_cache

from aotd.embedded.world.vocab import OBJECTS, VERBS, affords

Action = tuple[str, str]

HELD_VERBS = ("put", "hold", "throw", "eat")  # need the object in the hand
FREE = "free"
ANY = "any"


@lru_cache(maxsize=1)
def actionable() -> tuple[str, ...]:
    return tuple(name for name, cls in OBJECTS.items() if cls.actionable)


@cache
def objects_for(verb: str) -> tuple[str, ...]:
    """Every object the verb can be done to."""
    return tuple(o for o in actionable() if affords(verb, OBJECTS[o]))


@cache
def verbs_for(obj: str) -> tuple[str, ...]:
    return tuple(v for v in VERBS if affords(v, OBJECTS[obj]))


@lru_cache(maxsize=1)
def all_actions() -> tuple[Action, ...]:
    return tuple((v, o) for v in VERBS for o in actionable() if affords(v, OBJECTS[o]))


def hand_before(action: Action) -> str:
    """The hand an action needs: ``free``, ``any`` or the name of the object it must hold."""
    verb, obj = action
    if verb == "take":
        return FREE
    if verb in HELD_VERBS:
        return obj
    return ANY if OBJECTS[obj].fixed else FREE  # open / close


def hand_after(action: Action) -> str:
    verb, obj = action
    if verb in ("take", "hold"):
        return obj
    if verb in ("put", "throw", "eat"):
        return FREE
    return ANY if OBJECTS[obj].fixed else FREE


def can_follow(prev: Action, nxt: Action) -> bool:
    """Whether ``nxt`` can be the very next action after ``prev``."""
    if prev == nxt or (prev[0] == "eat" and nxt[1] == prev[1]):
        return False
    after, before = hand_after(prev), hand_before(nxt)
    return after == ANY or before == ANY or after == before


def can_follow_later(prev: Action, later: Action) -> bool:
    """Whether ``later`` can happen at some point after ``prev`` (only eating is final)."""
    return prev != later and not (prev[0] == "eat" and later[1] == prev[1])


def while_holding(held: str) -> tuple[Action, ...]:
    """Actions on other objects done while holding ``held``: opening or closing furniture."""
    return tuple(a for a in all_actions() if a[0] in ("open", "close") and OBJECTS[a[1]].fixed and a[1] != held)
