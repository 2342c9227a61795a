"""The tool-output cache: exact round trips, identical outputs with and without it, keys by
pixels (not video id), concurrent writers, pickling, and damaged rows."""

from __future__ import annotations

import multiprocessing
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aotd.agent.build import build_toolset
from aotd.agent.run import load_clip
from aotd.config import ToolChoice
from aotd.data.loaders import load_dataset
from aotd.data.sampling import SampledFrames
from aotd.tools.api import ToolAPI
from aotd.tools.cache import (
    MISS,
    ToolCache,
    cached_models,
    decode,
    dumps,
    encode,
    loads,
    model_version,
)
from aotd.tools.clip import Clip
from aotd.tools.types import Action, Box, Window

CHEAP = ToolChoice(detection="color", grounding="motion", recognition="motion", qa="presence")

W = Window(3, 17, 0.123456789)
VALUES: list[Any] = [
    None, True, False, 0, -7, 2**70, 0.1, -0.0, 1e-310, float("inf"), float("nan"), "", "take the book", "ünïcode ✓",
    W, Window(0, 0), Box(5, 1.23456789, 2.0, 100.987654321, 191.5, "cup/glass/bottle", 0.987654321),
    Box(0, 1, 2, 3, 4, "book"),  # int coordinates stay ints
    Action("take", "book", 0.3333333333333333, W), Action("open", "door", 1.0, None),
    [], [Box(i, i + 0.5, 1.0, 2.0, 3.0, "bag", 1 / 3) for i in range(4)],
    [Action("put", "cup/glass/bottle", 0.25, Window(1, 2, 0.5)), Action("eat", "food")],
    (1, "a", None), [(W, [W])],
]


def _same(a: Any, b: Any) -> bool:
    """Equal and of exactly the same types, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (Window, Box, Action)):
        return all(_same(getattr(a, k), getattr(b, k)) for k in a.__dataclass_fields__)
    return repr(a) == repr(b) if isinstance(a, float) else a == b  # repr: nan, -0.0


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_output_type_round_trips_exactly(value: Any, tmp_path: Path) -> None:
    assert _same(loads(dumps(value)), value)
    cache = ToolCache(tmp_path / "t.sqlite")
    assert cache.put("k", value)
    assert _same(cache.get("k"), value)
    assert cache.stats()["hits"] == 1


@pytest.mark.parametrize("value", [np.float64(0.5), np.int64(3), {"a": 1}, {1, 2}, b"x", object()], ids=repr)
def test_other_types_are_refused_not_approximated(value: Any, tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        encode(value)
    cache = ToolCache(tmp_path / "t.sqlite")
    assert not cache.put("k", value)
    assert cache.get("k") is MISS


@pytest.mark.parametrize("data", [{"__type__": "Box", "frame": 1}, {"__type__": "Nope"}, {"x": 1},
                                  {"__type__": "Window", "start": 5, "end": 1, "score": 1.0},
                                  {"__type__": "tuple", "items": 3}])
def test_foreign_data_does_not_decode(data: Any) -> None:
    with pytest.raises(ValueError):
        decode(data)


class Counting:
    """Counts the calls that reach a model and keeps what it returned last (in private
    attributes: public scalars count as a model's settings in its cache version)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self._n, self._last = inner, inner.name, 0, None

    @property
    def calls(self) -> int:
        return self._n

    @property
    def last(self) -> Any:
        return self._last

    def _call(self, method: str, *args: Any) -> Any:
        self._n += 1
        self._last = getattr(self.inner, method)(*args)
        return self._last

    def detect(self, clip: Clip, query: str) -> Any:
        return self._call("detect", clip, query)

    def ground(self, clip: Clip, query: str) -> Any:
        return self._call("ground", clip, query)

    def recognize(self, clip: Clip, obj: str | None = None) -> Any:
        return self._call("recognize", clip, obj)

    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> Any:
        return self._call("answer", clip, question, choices)


def _calls(api: ToolAPI, clip: Clip) -> list[Any]:
    """A spread of tool calls on two parts of the clip (short: the models cost grows with length)."""
    out: list[Any] = []
    for part in (clip.trim(0, 5), clip.trim(24, 31)):
        out += [api.detect(part, name) for name in ("cup/glass/bottle", "unicorn")]
        out.append(api.find_action(part, "take the book"))
        out += [api.recognize_actions(part), api.recognize_actions(part, "book")]
        out.append(api.query(part, "What did the person take?", ["The book.", "The cup/glass/bottle."]))
    return out


@pytest.fixture(scope="module")
def clips(world_dir: Path) -> list[Clip]:
    ds = load_dataset("star", world_dir)
    seen, out = set(), []
    for sample in ds.samples:
        if sample.video.video_id not in seen:
            seen.add(sample.video.video_id)
            out.append(load_clip(sample))
        if len(out) == 2:
            break
    return out


def _counted_toolset() -> tuple[ToolAPI, list[Counting]]:
    base = build_toolset(CHEAP)
    inner = [Counting(m) for m in (base.detector, base.grounder, base.recognizer, base.qa)]
    return ToolAPI(*inner), inner  # type: ignore[arg-type]


def test_cached_toolset_gives_the_uncached_outputs_and_hits_second_time(clips: list[Clip], tmp_path: Path) -> None:
    counted, inner = _counted_toolset()
    cache = ToolCache(tmp_path / "tools.sqlite")
    api = cached_models(counted, cache)
    assert api.provenance() == build_toolset(CHEAP).provenance()
    clip = clips[0]
    part = clip.trim(3, 9)
    # a miss hands back the model's own object: the uncached output itself
    assert api.detect(part, "book") is inner[0].last and api.find_action(part, "take the book") is inner[1].last
    assert api.recognize_actions(part) is inner[2].last and api.query(part, "Q?", ["a", "b"]) is inner[3].last
    results = []
    for clip in clips:
        first = _calls(api, clip)
        results.append(first)
        calls_after_first = [m.calls for m in inner]
        second = _calls(api, clip)
        assert _same(second, first)
        assert [m.calls for m in inner] == calls_after_first, "a hit must not reach the model"
    # every distinct call reached its model once (a miss), then hit
    assert cache.misses == sum(m.calls for m in inner) == cache.hits + 4 > 4 and cache.errors == 0

    # a copy of the cache (as a worker gets it), and the same pixels in another object, hit too
    again = cached_models(counted, pickle.loads(pickle.dumps(cache)))
    clip = clips[0]
    copy = Clip(SampledFrames(clip.sampled.frames.copy(), list(clip.sampled.source_indices), clip.sampled.fps),
                clip.video_id)
    before = [m.calls for m in inner]
    assert _same(_calls(again, copy), results[0])
    assert [m.calls for m in inner] == before


def test_other_pixels_under_the_same_video_id_miss(clips: list[Clip], tmp_path: Path) -> None:
    counted, inner = _counted_toolset()
    cache = ToolCache(tmp_path / "tools.sqlite")
    api = cached_models(counted, cache)
    clip = clips[0].trim(4, 8)
    api.detect(clip, "book")
    frames = clip.sampled.frames.copy()
    frames[7, 0, 0, 0] ^= 1  # one bit of one pixel
    edited = Clip(SampledFrames(frames, list(clip.sampled.source_indices), clip.sampled.fps), clip.video_id, clip.ids)
    other = Clip(clips[1].sampled, clip.video_id, clip.ids)  # another video under the same id
    for c in (edited, other, clip.trim(4, 7)):  # ... and other frame ids of the same pixels
        hits, calls = cache.hits, inner[0].calls
        api.detect(c, "book")
        assert cache.hits == hits and inner[0].calls == calls + 1
    api.detect(Clip(clips[0].sampled, "renamed", clip.ids), "book")  # the id is not part of the key
    assert inner[0].calls == 4 and cache.hits == 1


def test_model_version_follows_settings_and_weights() -> None:
    det = build_toolset(CHEAP).detector
    assert model_version(det) == model_version(type(det)())

    class Versioned:
        name, version = "x", "v7"

    assert model_version(Versioned()) == "v7"
    torch = pytest.importorskip("torch")

    class Net:
        name = "net"

        def __init__(self, seed: int) -> None:
            torch.manual_seed(seed)
            self.model, self.min_score = torch.nn.Linear(2, 2), 0.1

    assert model_version(Net(0)) == model_version(Net(0)) != model_version(Net(1))
    tuned = Net(0)
    tuned.min_score = 0.2
    assert model_version(tuned) != model_version(Net(0))


def _writer(path: str, tag: str, n: int) -> None:
    cache = ToolCache(path)
    for i in range(n):
        assert cache.put(f"{tag}-{i}", [Window(i, i + 1, i / 7), tag])
        assert cache.put(f"shared-{i}", Box(i, 0.5, 0.5, 2.5, 2.5, "book", 0.5))
        assert cache.get(f"{tag}-{i}") == [Window(i, i + 1, i / 7), tag]
    assert cache.errors == 0


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    ToolCache(path).put("before", "x")  # the file exists and is in WAL mode before they start
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), tag, 150)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    cache = ToolCache(path)
    assert len(cache) == 1 + 2 * 150 + 150
    assert cache.get("a-149") == [Window(149, 150, 149 / 7), "a"] and cache.get("b-0") == [Window(0, 1, 0.0), "b"]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_pickled_cache_travels_without_its_connection(tmp_path: Path) -> None:
    cache = ToolCache(tmp_path / "t.sqlite")
    cache.put("k", Window(1, 2))
    assert cache.get("k") == Window(1, 2)
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.path == cache.path and copy.stats()["hits"] == 0 and copy._conn is None
    assert copy.get("k") == Window(1, 2)


def test_a_damaged_row_is_a_miss_and_is_rewritten(clips: list[Clip], tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    counted, inner = _counted_toolset()
    cache = ToolCache(path)
    api = cached_models(counted, cache)
    clip = clips[0].trim(0, 7)
    expected = api.recognize_actions(clip)
    for damage in ("{not json", '{"__type__": "Gizmo"}', '[{"__type__": "Window", "start": 9, "end": 1, "score": 1}]'):
        with sqlite3.connect(path) as db:
            db.execute("UPDATE outputs SET value = ? WHERE method = 'recognize'", (damage,))
        calls, misses = inner[2].calls, cache.misses
        assert _same(api.recognize_actions(clip), expected)
        assert inner[2].calls == calls + 1 and cache.misses == misses + 1
        calls = inner[2].calls
        assert _same(api.recognize_actions(clip), expected)  # rewritten: a hit again
        assert inner[2].calls == calls


def test_an_unusable_file_degrades_to_no_cache(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    cache = ToolCache(path)
    with pytest.warns(RuntimeWarning, match="tool cache"):
        assert cache.get("k") is MISS
    assert not cache.put("k", "v") and cache.errors == 2


def test_frame_digest_follows_pixels_indices_and_is_remembered() -> None:
    frames = np.random.default_rng(0).integers(0, 255, (32, 12, 16, 3), dtype=np.uint8)
    first = SampledFrames(frames, list(range(32)), 10.0)
    assert first.digest() == SampledFrames(frames.copy(), list(range(32)), 10.0).digest()
    assert first.digest() != SampledFrames(frames, list(range(1, 33)), 10.0).digest()
    assert first.digest() != SampledFrames(frames[:, :, ::-1], list(range(32)), 10.0).digest()
    frames.flags.writeable = False  # as FrameCache hands them out: hashed once for every sample
    again = SampledFrames(frames, list(range(32)), 10.0)
    assert again.digest() == first.digest() == SampledFrames(frames, list(range(32)), 10.0).digest()
