"""STAR's class files: the maps from o000 / v000 / r000 / a000 ids to names.

STAR ships them as plain text, one class a line, ``<id> <name...>``:

* ``object_classes.txt``        ``o003 book``
* ``verb_classes.txt``          ``v004 take``
* ``relationship_classes.txt``  ``r001 holding``
* ``action_classes.txt``        ``a012 Taking a book``
* ``action_mapping.txt``        ``a012 o003 v004`` (the action's object and verb, in any order)

The embedded world writes the same files for its own vocabulary, so one loader serves both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from aotd.errors import DataError

CLASS_FILES = {
    "objects": "object_classes.txt",
    "verbs": "verb_classes.txt",
    "relationships": "relationship_classes.txt",
    "actions": "action_classes.txt",
    "mapping": "action_mapping.txt",
}

_ID = {"objects": "o", "verbs": "v", "relationships": "r", "actions": "a"}
_ID_RE = re.compile(r"^[a-z]\d+$")


@dataclass
class StarClasses:
    """Id-to-name maps plus each action's (verb, object)."""

    objects: dict[str, str] = field(default_factory=dict)
    verbs: dict[str, str] = field(default_factory=dict)
    relationships: dict[str, str] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    action_map: dict[str, tuple[str, str]] = field(default_factory=dict)  # a -> (v, o)

    def __post_init__(self) -> None:
        self._object_ids = {name: oid for oid, name in self.objects.items()}
        self._rel_ids = {name: rid for rid, name in self.relationships.items()}

    # --- lookups used by the program executor ------------------------------------
    def object_name(self, oid: str) -> str:
        return self.objects.get(oid, oid)

    def object_id(self, name: str) -> str | None:
        return self._object_ids.get(name)

    def relationship_id(self, name: str) -> str | None:
        return self._rel_ids.get(name)

    def action_verb(self, aid: str) -> str:
        vid = self.action_map[aid][0]
        return self.verbs.get(vid, vid)

    def action_object(self, aid: str) -> str:
        oid = self.action_map[aid][1]
        return self.objects.get(oid, oid)

    def action_id(self, verb: str, obj: str) -> str | None:
        for aid in self.action_map:
            if self.action_verb(aid) == verb and self.action_object(aid) == obj:
                return aid
        return None

    def objects_for_verb(self, verb: str) -> set[str]:
        """Object names some action pairs with ``verb`` (STAR's verb-to-object action space)."""
        return {self.action_object(a) for a in self.action_map if self.action_verb(a) == verb}

    # --- files ---------------------------------------------------------------------
    @classmethod
    def load(cls, directory: str | Path) -> StarClasses:
        directory = Path(directory)
        if not directory.is_dir():
            raise DataError(
                "class directory not found",
                path=directory,
                fix="point to the folder holding STAR's object_classes.txt, verb_classes.txt, ...",
            )
        tables: dict[str, dict[str, str]] = {}
        for key in ("objects", "verbs", "relationships", "actions"):
            tables[key] = _read_table(directory / CLASS_FILES[key], _ID[key])
        mapping: dict[str, tuple[str, str]] = {}
        path = directory / CLASS_FILES["mapping"]
        for lineno, parts in _lines(path):
            ids = {p[0]: p for p in parts if _ID_RE.match(p)}
            if not {"a", "v", "o"} <= ids.keys():
                raise DataError(
                    f"line {lineno} needs an action, a verb and an object id, got {' '.join(parts)!r}",
                    path=path,
                    fix="write lines like 'a012 o003 v004'",
                )
            mapping[ids["a"]] = (ids["v"], ids["o"])
        for aid in tables["actions"]:
            if aid not in mapping:
                raise DataError(f"action {aid} has no line in {CLASS_FILES['mapping']}", path=path)
        return cls(
            objects=tables["objects"],
            verbs=tables["verbs"],
            relationships=tables["relationships"],
            actions=tables["actions"],
            action_map=mapping,
        )

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for key in ("objects", "verbs", "relationships", "actions"):
            table: dict[str, str] = getattr(self, key)
            _write(directory / CLASS_FILES[key], [f"{k} {v}" for k, v in table.items()])
        _write(
            directory / CLASS_FILES["mapping"],
            [f"{a} {o} {v}" for a, (v, o) in self.action_map.items()],
        )


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise DataError("class file not found", path=path, fix="STAR's class files must sit together in one folder")
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            out.append((lineno, line.split()))
    return out


def _read_table(path: Path, prefix: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for lineno, parts in _lines(path):
        key = parts[0]
        if not (key.startswith(prefix) and _ID_RE.match(key)) or len(parts) < 2:
            raise DataError(
                f"line {lineno} should be '<{prefix}NNN> <name>', got {' '.join(parts)!r}",
                path=path,
            )
        if key in table:
            raise DataError(f"line {lineno} repeats id {key}", path=path)
        table[key] = " ".join(parts[1:])
    if not table:
        raise DataError("class file is empty", path=path)
    return table


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
