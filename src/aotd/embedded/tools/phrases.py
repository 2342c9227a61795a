"""Action phrases in the world's vocabulary: parse "opened the door" to ("open", "door").

Grounding queries and recognizer outputs meet here, so that "put down the cup", "putting the
glass down" and "the person put down the bottle" all name ("put", "cup/glass/bottle").
"""

from __future__ import annotations

import re
from functools import lru_cache

from aotd.embedded.world.vocab import OBJECTS, VERBS, affords, world_classes


@lru_cache(maxsize=1)
def world_actions() -> tuple[tuple[str, str], ...]:
    """The world's (verb, object) action space, in action-id order (a000, a001, ...)."""
    wc = world_classes()
    return tuple((wc.action_verb(a), wc.action_object(a)) for a in sorted(wc.action_map))


@lru_cache(maxsize=1)
def _verb_forms() -> list[tuple[str, str]]:
    """(surface form, verb), longest first so "put down" wins over "put"."""
    forms: set[tuple[str, str]] = set()
    for v in VERBS.values():
        for form in (v.name, v.base, v.past, v.gerund, v.participle):
            forms.add((form, v.name))
            forms.add((form.split()[0], v.name))  # "putting the cup down"
    return sorted(forms, key=lambda f: -len(f[0]))


@lru_cache(maxsize=1)
def _object_aliases() -> list[tuple[str, str]]:
    """(alias, class), longest first: each class by its full name and each part of "cup/glass/bottle"."""
    aliases = {(name, name) for name, cls in OBJECTS.items() if cls.actionable}
    aliases |= {(part, name) for name, _ in aliases for part in name.split("/")}
    return sorted(aliases, key=lambda a: -len(a[0]))


def _find(text: str, table: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """(position, value) of every surface form in ``text``, as whole words."""
    hits = []
    for form, value in table:
        for m in re.finditer(rf"(?<![\w/]){re.escape(form)}(?![\w/])", text):
            hits.append((m.start(), value))
    return sorted(hits)


def parse_action(text: str) -> tuple[str, str] | None:
    """The (verb, object) an action phrase names, or None when it names no world action."""
    t = re.sub(r"\s+", " ", text.lower().replace("_", " ")).strip()
    verbs = _find(t, _verb_forms())
    objects = _find(t, _object_aliases())
    for _, verb in verbs:
        for _, obj in objects:
            if affords(verb, OBJECTS[obj]):
                return verb, obj
    return None

