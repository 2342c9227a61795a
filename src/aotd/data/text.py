"""Words of an answer, as every step compares them: verb forms folded, articles dropped.

The tools choose an option from evidence with ``tokens``, step 3 and evaluation compare
open-ended answers with ``normalize``, and multiple-choice replies are read with both.
"""

from __future__ import annotations

import re

_ARTICLES = {"the", "a", "an", "to", "somewhere", "person", "they"}
_IRREGULAR = {"took": "take", "taken": "take", "taking": "take", "put": "put", "putting": "put", "down": "",
              "held": "hold", "holding": "hold", "threw": "throw", "thrown": "throw", "throwing": "throw",
              "ate": "eat", "eaten": "eat", "eating": "eat", "opened": "open", "opening": "open",
              "closed": "close", "closing": "close"}


def tokens(text: str) -> set[str]:
    """Content words with verb forms folded to the base verb (took -> take, put down -> put)."""
    out = set()
    for raw in re.split(r"[^a-z0-9/]+", text.lower()):
        word = _IRREGULAR.get(raw, raw)
        if word and word not in _ARTICLES:
            out.add(word)
    return out


_BASE_FORMS = {"put": "put down"}  # verb classes whose base-form phrase is not their name


def action_phrase(verb: str, obj: str) -> str:
    """A base-form phrase for an action class, "put down the cup": how step 1 asks a grounder
    for an annotated action and the rule converter names one (an object class's first alias:
    "cup/glass/bottle" -> "cup"). The embedded tools read it back (``parse_action``)."""
    return f"{_BASE_FORMS.get(verb, verb)} the {obj.split('/')[0]}"


_PUNCT = re.compile(r"[^\w\s/]")


def normalize(text: str) -> str:
    """Lower case, no punctuation, articles dropped, verb forms folded: "Took the book." -> "take book"."""
    words = _PUNCT.sub(" ", str(text).lower()).split()
    return " ".join(sorted(tokens(" ".join(words))))
