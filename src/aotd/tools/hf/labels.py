"""Action label lists for the zero-shot recognizers (X-CLIP, the Video-LLM).

A label is the text a model reads ("Taking a book") and the (verb, object) the agent's
``Action`` carries ("take", "book"). STAR's class folder gives both: ``action_classes.txt``
for the text and ``action_mapping.txt`` for the verb and object ids; the embedded world
writes the same folder (``<world>/annotations/classes``), so one loader serves both. A
plain text file holds one label a line, either ``text<TAB>verb<TAB>object`` or just the
text, in which case the verb is its first word and the object the rest without a leading
article ("Opening the door" -> "opening", "door").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aotd.data.star_classes import CLASS_FILES, StarClasses
from aotd.errors import AotdError, DataError

_ARTICLES = ("a ", "an ", "the ", "some ")


@dataclass(frozen=True)
class ActionLabel:
    text: str  # what the model reads
    verb: str
    obj: str


def labels_from_classes(classes: StarClasses) -> list[ActionLabel]:
    """Every action of a STAR class table, in id order."""
    return [ActionLabel(classes.actions[a], classes.action_verb(a), classes.action_object(a))
            for a in sorted(classes.actions)]


def load_labels(path: str | Path) -> list[ActionLabel]:
    """Labels from a STAR class folder (or a folder holding one, e.g. a generated world) or a text file."""
    path = Path(path).expanduser()
    if path.is_dir():
        folder = path if (path / CLASS_FILES["actions"]).is_file() else _class_folder(path)
        if folder is None:
            raise DataError("no action_classes.txt here or in a classes/ folder below", path=path,
                            fix="point to STAR's class folder or a text file of one label per line")
        return labels_from_classes(StarClasses.load(folder))
    if not path.is_file():
        raise DataError("label list not found", path=path,
                        fix="point to STAR's class folder or a text file of one label per line")
    labels = [_parse_line(line, lineno, path)
              for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    if not labels:
        raise DataError("the label list is empty", path=path)
    return labels


def labels_digest(labels: list[ActionLabel]) -> str:
    """A short hash of the list (part of a recognizer's cache version)."""
    blob = "\n".join(f"{lab.text}\t{lab.verb}\t{lab.obj}" for lab in labels)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def same_object(a: str, b: str) -> bool:
    """"cup" names "cup/glass/bottle" and the other way round; case aside."""
    a, b = a.strip().lower(), b.strip().lower()
    return a == b or bool(set(a.split("/")) & set(b.split("/")))


def for_object(labels: list[ActionLabel], obj: str | None) -> list[ActionLabel]:
    """The labels acting on ``obj`` (all when None): exact names first, aliases when none is exact."""
    if obj is None:
        return list(labels)
    exact = [lab for lab in labels if lab.obj.lower() == obj.strip().lower()]
    return exact or [lab for lab in labels if same_object(lab.obj, obj)]


def require_labels(labels: list[ActionLabel] | None, who: str) -> list[ActionLabel]:
    if not labels:
        raise AotdError(f"tools.labels: the recognizer {who!r} needs an action label list; set tools.labels to "
                        "a STAR class folder (action_classes.txt + action_mapping.txt) or a text file of one "
                        "label per line")
    return labels


def _class_folder(path: Path) -> Path | None:
    from aotd.data.loaders.star import class_folder

    return class_folder(path)


def _parse_line(line: str, lineno: int, path: Path) -> ActionLabel:
    parts = [p.strip() for p in line.split("\t")]
    if len(parts) == 3 and all(parts):
        return ActionLabel(*parts)
    if len(parts) != 1:
        raise DataError(f"line {lineno} should be 'text' or 'text<TAB>verb<TAB>object', got {line!r}", path=path)
    text = parts[0]
    words = text.split(maxsplit=1)
    obj = words[1] if len(words) > 1 else ""
    for article in _ARTICLES:
        if obj.lower().startswith(article):
            obj = obj[len(article):]
            break
    return ActionLabel(text, words[0].lower(), obj.strip() or text)
