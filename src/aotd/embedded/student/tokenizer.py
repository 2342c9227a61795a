"""A word-level tokenizer for the embedded world, with an exact character fallback.

Words of the world (objects, verb forms, question templates, prompt suffixes, the rule and
program converters' phrasing) are single tokens, with and without a leading space and capitalised, so
an answer prompt is ~50 tokens and a rationale a few hundred. Numbers 0-256 (frame ids and box
coordinates) are single tokens too. Anything else falls back to one token per printable ASCII
character, so ``decode(encode(text)) == text`` for every text of that alphabet; a character
outside it raises ``ValueError`` naming it, before any training starts.

The vocabulary is built from code (the world's vocabulary plus fixed word lists), never from a
dataset, so ids are stable across runs; a saved student keeps its own copy as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

PAD, BOS, EOS, SEP = "<pad>", "<bos>", "<eos>", "<sep>"
SPECIALS = (PAD, BOS, EOS, SEP)
ALPHABET = "\n\t" + "".join(chr(c) for c in range(32, 127))  # what the fallback can write
MAX_NUMBER = 256  # box coordinates of a 256-pixel-wide frame run 0..256; frame ids 0..31
FORMAT = "aotd-world-tokenizer/1"

_CHUNK = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^A-Za-z0-9 ]| ")
"""Pre-tokenization: a word, a number or one other character, each with an optional leading
space, or a lone space. Every character falls in exactly one chunk, so chunks join back to the text."""

_TEMPLATE_WORDS = """
which object was by the person what did do with while they were holding after before will next
would other is possible to be able are
"""
_PROMPT_WORDS = """
answer option options letter from given choices directly and only give best one word or phrase
explain rationale question
"""
_RATIONALE_WORDS = """
first then next after that so the answer is i look for it visible in frame frames at and to do not
find check there try on but fails fail search no action actions recognise recognize focus ask
this points unknown time has just done video clip object objects somewhere none nothing seen
see where when start end window box boxes person an a yes true false error
"""
_PROGRAM_WORDS = """
recognised anchor happens model answers found can must scene already prefer earliest latest shown them
relevant last hints since ground each lasts else happened besides hand
"""
"""The program converter's phrasing (``cot.program``), after the words above so that the ids of
those stay where they were: without them a third of a rationale's tokens spelled words out."""
_EXACT_WORDS = ("QA",)  # written in capitals, as the program converter writes them
_SPACED_PUNCTUATION = "\"'([-"  # punctuation that usually follows a space in the world's texts


def _world_words() -> list[str]:
    """Lower-cased words of the world's own vocabulary, in declaration order."""
    from aotd.embedded.world.vocab import OBJECT_CLASSES, RELATIONSHIPS, VERBS, world_classes

    texts: list[str] = [c.name for c in OBJECT_CLASSES] + list(RELATIONSHIPS)
    for v in VERBS.values():
        texts += [v.name, v.base, v.past, v.gerund, v.participle]
    texts += list(world_classes().actions.values())
    return _words(texts)


def _words(texts: Iterable[str]) -> list[str]:
    out: dict[str, None] = {}
    for text in texts:
        for word in re.findall(r"[A-Za-z]+", text):
            out[word.lower()] = None
    return list(out)


def default_tokens() -> list[str]:
    """The vocabulary, deterministically: specials, characters, numbers, then words."""
    from aotd.models.options import LETTERS, MC_SUFFIX, OE_SUFFIX, RATIONALE_SUFFIX

    tokens: dict[str, None] = dict.fromkeys(SPECIALS)
    tokens.update(dict.fromkeys(ALPHABET))
    tokens.update(dict.fromkeys(" " + p for p in _SPACED_PUNCTUATION))
    for n in range(MAX_NUMBER + 1):
        tokens.update(dict.fromkeys((str(n), f" {n}")))
    words = _words([_TEMPLATE_WORDS, _PROMPT_WORDS, _RATIONALE_WORDS, MC_SUFFIX, OE_SUFFIX, RATIONALE_SUFFIX])
    words += _world_words() + [c.lower() for c in LETTERS] + _words([_PROGRAM_WORDS])
    forms = [form for word in dict.fromkeys(words) for form in (word, word.capitalize())] + list(_EXACT_WORDS)
    for form in forms:
        tokens.update(dict.fromkeys((form, " " + form)))
    return list(tokens)


class WorldTokenizer:
    """Text <-> ids. ``encode`` never adds specials; the student places BOS/SEP/EOS itself."""

    def __init__(self, tokens: Sequence[str]) -> None:
        missing = [t for t in (*SPECIALS, *ALPHABET) if t not in tokens]
        if missing:
            raise ValueError(f"a tokenizer vocabulary needs every special and character token; missing {missing[:5]!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("the tokenizer vocabulary has duplicate tokens")
        self.tokens = list(tokens)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.bos_id, self.eos_id, self.sep_id = (self.ids[t] for t in SPECIALS)
        self._special_ids = {self.ids[t] for t in SPECIALS}
        self._cache: dict[str, tuple[int, ...]] = {}

    @classmethod
    def build(cls) -> WorldTokenizer:
        return _default()

    def __len__(self) -> int:
        return len(self.tokens)

    def token_id(self, token: str) -> int:
        return self.ids[token]

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        for chunk in _CHUNK.findall(text):
            ids = self._cache.get(chunk)
            if ids is None:
                ids = self._cache[chunk] = self._encode_chunk(chunk, text)
            out.extend(ids)
        return out

    def _encode_chunk(self, chunk: str, text: str) -> tuple[int, ...]:
        if chunk in self.ids:
            return (self.ids[chunk],)
        if chunk[0] == " " and chunk[1:] in self.ids:
            return self.ids[" "], self.ids[chunk[1:]]
        for ch in chunk:
            if ch not in self.ids:
                at = text.index(ch)
                raise ValueError(f"cannot tokenize character {ch!r} (U+{ord(ch):04X}) at position {at} of "
                                 f"{text[max(0, at - 30) : at + 30]!r}: the embedded student writes printable ASCII only")
        return tuple(self.ids[ch] for ch in chunk)

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        return "".join(self.tokens[i] for i in ids if not (skip_special and i in self._special_ids))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"format": FORMAT, "tokens": self.tokens}, ensure_ascii=True))

    @classmethod
    def load(cls, path: Path) -> WorldTokenizer:
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} tokenizer (format {data.get('format')!r})")
        return cls(data["tokens"])


@lru_cache(maxsize=1)
def _default() -> WorldTokenizer:
    return WorldTokenizer(default_tokens())
