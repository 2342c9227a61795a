"""A disk cache of tool outputs per (model, clip pixels, arguments), shared by worker processes.

``cached_models`` wraps the four models of a ``ToolAPI`` so that a second run over the same
videos (a rerun, a resumed run, another planner on the same questions) reads each model's
output instead of computing it. The key is the sha256 of the model's name and version, the
method, the clip's content (a digest of the sampled pixels, ``SampledFrames.digest``, and the
clip's frame ids) and the arguments; the video id is not part of it, so two videos that share
an id but not their pixels never collide, and a re-rendered video misses.

``ToolCache`` is one sqlite file in WAL mode: any number of processes read and write it at
once (each opens its own connection on first use; a pickled cache travels without one, so it
can be sent to spawned workers and Ray actors). Values are JSON with type tags, never
pickles, and decode to objects equal to the ones stored: a ``Box`` comes back as a ``Box``
with the same floats. A row that does not decode counts as a miss and is rewritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import aotd
from aotd.tools.api import ToolAPI
from aotd.tools.clip import Clip
from aotd.tools.types import Action, Box, Window

BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's write to finish
_TYPES: dict[str, type] = {"Window": Window, "Box": Box, "Action": Action}
_TAG = "__type__"


class _Miss:
    def __repr__(self) -> str:
        return "MISS"


MISS: Any = _Miss()  # what ``ToolCache.get`` returns for a key it does not hold (None is a value)


# --- values: tagged JSON that decodes to equal objects of the same types ---------------------
def encode(value: Any) -> Any:
    """``value`` as JSON-ready data; ``TypeError`` for anything but None, bool, int, float, str,
    lists and tuples of them, and the typed outputs (``Window``, ``Box``, ``Action``).

    Types are matched exactly (a numpy float is refused rather than coming back as a float).
    """
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is list:
        return [encode(v) for v in value]
    if kind is tuple:
        return {_TAG: "tuple", "items": [encode(v) for v in value]}
    name = kind.__name__
    if _TYPES.get(name) is kind:
        return {_TAG: name, **{f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    raise TypeError(f"a tool output of type {kind.__name__} cannot be cached")


def decode(data: Any) -> Any:
    """The inverse of ``encode``; ``ValueError`` for data it did not write."""
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode(v) for v in data]
    if type(data) is not dict:
        raise ValueError(f"not an encoded tool output: {type(data).__name__}")
    tag = data.get(_TAG)
    if tag == "tuple" and set(data) == {_TAG, "items"} and type(data["items"]) is list:
        return tuple(decode(v) for v in data["items"])
    cls = _TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise ValueError(f"unknown type tag {tag!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    if set(data) != names | {_TAG}:
        raise ValueError(f"{tag} fields {sorted(set(data) - {_TAG})} are not {sorted(names)}")
    try:
        return cls(**{k: decode(v) for k, v in data.items() if k != _TAG})
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def dumps(value: Any) -> str:
    return json.dumps(encode(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return decode(json.loads(text))


# --- keys ----------------------------------------------------------------------------------
def tool_key(model: str, version: str | None, method: str, clip: Clip, args: dict[str, Any]) -> str:
    """sha256 of (model, version, method, clip pixels digest, clip frame ids, arguments).

    ``TypeError`` when the arguments are not JSON data (such a call is not cached).
    """
    blob = json.dumps({"model": model, "version": version, "method": method, "frames": clip.sampled.digest(),
                       "ids": list(clip.ids), "args": args}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def model_version(model: Any) -> str:
    """What besides its name tells one build of a model from another.

    ``model.version`` when the model has one; otherwise a hash of the aotd version, the class,
    its public scalar settings (thresholds) and the weights of every torch module it holds,
    looking one level into the models it wraps (``VisualQA``'s detector and recognizer).
    A retrained model therefore misses; a change to a model's code is caught by the aotd
    version only, so clear the cache after editing a model between releases.
    """
    explicit = getattr(model, "version", None)
    if explicit is not None:
        return str(explicit)
    h = hashlib.sha256(aotd.__version__.encode())
    _fingerprint(model, h, depth=1)
    return h.hexdigest()[:16]


def _fingerprint(obj: Any, h: Any, depth: int) -> None:
    kind = type(obj)
    h.update(f"<{kind.__module__}.{kind.__qualname__}>".encode())
    settings: dict[str, Any] = {}
    for klass in reversed(kind.__mro__):
        settings.update(vars(klass))
    settings.update(vars(obj) if hasattr(obj, "__dict__") else {})
    torch = sys.modules.get("torch")
    for attr in sorted(settings):
        value = settings[attr]
        if attr.startswith("_"):
            continue
        if value is None or type(value) in (bool, int, float, str):
            h.update(f"{attr}={value!r};".encode())
        elif torch is not None and isinstance(value, torch.nn.Module):
            h.update(f"{attr}:".encode())
            for name, tensor in value.state_dict().items():
                t = tensor.detach().cpu().contiguous()
                h.update(f"{name}{tuple(t.shape)}{t.dtype};".encode())
                h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
        elif depth > 0 and isinstance(getattr(value, "name", None), str) and hasattr(value, "__dict__"):
            h.update(f"{attr}:".encode())
            _fingerprint(value, h, depth - 1)


# --- the store -----------------------------------------------------------------------------
class ToolCache:
    """Tool outputs by key in one sqlite file (WAL mode), safe for concurrent processes.

    ``get`` returns ``MISS`` for an absent or undecodable row; ``put`` replaces a row. A sqlite
    error (a locked database past ``BUSY_TIMEOUT_S``, a damaged file) never fails the caller:
    it counts in ``errors``, warns once, and the call goes on as a miss / an unstored value.
    ``hits``, ``misses`` and ``errors`` count this process's calls (a pickled copy starts at 0).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.hits = self.misses = self.errors = 0
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._warned = False

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"ToolCache({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        # A connection opened before a fork belongs to the parent: the child opens its own.
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("CREATE TABLE IF NOT EXISTS outputs (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                             "model TEXT NOT NULL, method TEXT NOT NULL, video_id TEXT)")
            except BaseException:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get(self, key: str) -> Any:
        """The stored value, or ``MISS``."""
        try:
            with self._lock:
                row = self._connection().execute("SELECT value FROM outputs WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._error(exc)
            row = None
        if row is not None:
            try:
                value = loads(row[0])
            except (ValueError, TypeError, RecursionError):
                value = MISS
            else:
                self.hits += 1
                return value
        self.misses += 1
        return MISS

    def put(self, key: str, value: Any, *, model: str = "", method: str = "", video_id: str | None = None) -> bool:
        """Store ``value`` (replacing any row of ``key``); False when it cannot be encoded or written."""
        try:
            text = dumps(value)
        except (TypeError, ValueError):
            return False
        try:
            with self._lock:
                self._connection().execute(
                    "INSERT OR REPLACE INTO outputs (key, value, model, method, video_id) VALUES (?, ?, ?, ?, ?)",
                    (key, text, model, method, video_id))
        except sqlite3.Error as exc:
            self._error(exc)
            return False
        return True

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM outputs").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        calls = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "errors": self.errors,
                "hit_rate": round(self.hits / calls, 4) if calls else 0.0}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = self._pid = None

    def _error(self, exc: sqlite3.Error) -> None:
        self.errors += 1
        if not self._warned:
            self._warned = True
            warnings.warn(f"tool cache {self.path}: {exc}; going on without it for this call", RuntimeWarning,
                          stacklevel=3)


# --- the models, wrapped -----------------------------------------------------------------
class _CachedModel:
    """One model behind the cache; everything but the cached method is the inner model's."""

    def __init__(self, inner: Any, cache: ToolCache, version: str) -> None:
        self.inner, self.cache, self.version = inner, cache, version
        self.name: str = inner.name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    def _cached(self, method: str, clip: Clip, args: dict[str, Any]) -> Any:
        compute = getattr(self.inner, method)
        try:
            key = tool_key(self.name, self.version, method, clip, args)
        except (TypeError, ValueError):
            return compute(clip, *args.values())
        value = self.cache.get(key)
        if value is MISS:
            value = compute(clip, *args.values())
            self.cache.put(key, value, model=self.name, method=method, video_id=clip.video_id)
        return value


class CachedDetector(_CachedModel):
    def detect(self, clip: Clip, query: str) -> list[Box]:
        return self._cached("detect", clip, {"query": query})


class CachedGrounder(_CachedModel):
    def ground(self, clip: Clip, query: str) -> Window | None:
        return self._cached("ground", clip, {"query": query})


class CachedRecognizer(_CachedModel):
    def recognize(self, clip: Clip, obj: str | None = None) -> list[Action]:
        return self._cached("recognize", clip, {"obj": obj})


class CachedQA(_CachedModel):
    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        return self._cached("answer", clip, {"question": question, "choices": choices})


def cached_models(api: ToolAPI, cache: ToolCache) -> ToolAPI:
    """A ``ToolAPI`` whose four models read and fill ``cache``; names (provenance) are unchanged.

    Outputs equal the uncached ones: a miss returns the model's own result, a hit a decoded
    copy of it. A model that raises is not cached (the error reaches the program as before).
    """
    versions: dict[int, str] = {}

    def version(model: Any) -> str:
        if id(model) not in versions:
            versions[id(model)] = model_version(model)
        return versions[id(model)]

    return ToolAPI(CachedDetector(api.detector, cache, version(api.detector)),
                   CachedGrounder(api.grounder, cache, version(api.grounder)),
                   CachedRecognizer(api.recognizer, cache, version(api.recognizer)),
                   CachedQA(api.qa, cache, version(api.qa)))
