"""Video writing, probing, seek-based reading, sampling and caching on tiny synthetic videos.

Each frame is flat colour whose red and green levels encode its index, so the index can be
read back despite lossy compression.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from aotd.data.sampling import sample_indices
from aotd.data.video import FrameCache, decode_all, probe_video, read_frames, sample_video, write_video
from aotd.errors import VideoError

H, W = 48, 64


def frame(i: int) -> np.ndarray:
    """A flat frame whose colour encodes ``i`` (0..255) in 16 levels of red and of green."""
    out = np.zeros((H, W, 3), np.uint8)
    out[..., 0] = (i % 16) * 16 + 8
    out[..., 1] = (i // 16) * 16 + 8
    return out


def index_of(decoded: np.ndarray) -> int:
    red, green = decoded[H // 4 : -H // 4, W // 4 : -W // 4, :2].reshape(-1, 2).mean(axis=0)
    return int(round((red - 8) / 16)) + 16 * int(round((green - 8) / 16))


def indices_of(frames: np.ndarray) -> list[int]:
    return [index_of(f) for f in frames]


def make(tmp_path: Path, n: int, fps: float = 10.0, name: str = "v.mp4", **kw: int) -> Path:
    path = tmp_path / name
    write_video(path, (frame(i) for i in range(n)), fps, **kw)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(tmp_path_factory.mktemp("video"), 100, gop=8)


@pytest.fixture(scope="module")
def reference(video: Path) -> np.ndarray:
    return decode_all(video)


def test_write_probe_round_trip(tmp_path: Path) -> None:
    info = write_video(tmp_path / "clip.mp4", (frame(i) for i in range(40)), 12.5)
    assert (info.video_id, info.fps, info.num_frames, info.width, info.height) == ("clip", 12.5, 40, W, H)
    assert probe_video(tmp_path / "clip.mp4") == info
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_decode_all_gives_every_frame_in_order(video: Path, reference: np.ndarray) -> None:
    assert reference.shape == (100, H, W, 3) and reference.dtype == np.uint8
    assert indices_of(reference) == list(range(100))


def test_read_frames_in_asked_order_with_repeats(video: Path, reference: np.ndarray) -> None:
    wanted = [57, 0, 57, 99, 12, 12, 3, 98, 41]
    frames = read_frames(video, wanted)
    assert indices_of(frames) == wanted
    np.testing.assert_array_equal(frames, reference[wanted])
    assert read_frames(video, []).shape == (0, H, W, 3)


@pytest.mark.parametrize(
    ("codec", "fmt", "suffix"),
    [("libx264", "mp4", "mp4"), ("libx264", "mpegts", "ts"), ("mpeg4", "avi", "avi")],
)
def test_read_frames_maps_timestamps_for_other_encoders(
    tmp_path: Path, codec: str, fmt: str, suffix: str
) -> None:
    """B-frames, long GOPs, no index (TS) and pts not starting at the stream start (AVI)."""
    path = tmp_path / f"other.{suffix}"
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.gop_size, stream.codec_context.max_b_frames = 25, 2
        stream.codec_context.bit_rate = 4_000_000  # mpeg4's default rate blurs the index colours
        for i in range(60):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame(i), format="rgb24")))
        container.mux(stream.encode(None))
    wanted = [59, 0, 33, 34, 7, 50, 24, 25, 26, 33]
    frames = read_frames(path, wanted)
    assert indices_of(frames) == wanted
    np.testing.assert_array_equal(frames, decode_all(path)[wanted])


@pytest.mark.parametrize("bad", [-1, 100])
def test_read_frames_out_of_range(video: Path, bad: int) -> None:
    with pytest.raises(VideoError, match="out of range"):
        read_frames(video, [0, bad])


def test_sample_video_uniform(video: Path, reference: np.ndarray) -> None:
    sampled = sample_video(video)
    assert len(sampled) == 32 and sampled.fps == 10.0
    assert sampled.source_indices == sample_indices(100, 32) == [round(x) for x in np.linspace(0, 99, 32)]
    np.testing.assert_array_equal(sampled.frames, reference[sampled.source_indices])


def test_sample_video_window_in_seconds(video: Path) -> None:
    sampled = sample_video(video, 8, start_s=2.0, end_s=5.0)
    assert sampled.source_indices[0] == 20 and sampled.source_indices[-1] == 50
    assert indices_of(sampled.frames) == sampled.source_indices == sample_indices(100, 8, 20, 50)


def test_short_video_repeats_frames(tmp_path: Path) -> None:
    sampled = sample_video(make(tmp_path, 10))
    assert len(sampled) == 32 and sorted(set(sampled.source_indices)) == list(range(10))
    assert indices_of(sampled.frames) == sampled.source_indices


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("missing", lambda p: p.unlink()),
        ("empty", lambda p: p.write_bytes(b"")),
        ("garbage", lambda p: p.write_bytes(np.random.default_rng(1).bytes(4000))),
        ("truncated", _truncated),
    ],
)
def test_bad_files_raise_video_error_naming_them(
    tmp_path: Path, name: str, damage: Callable[[Path], object]
) -> None:
    path = make(tmp_path, 30, name=f"{name}.mp4")
    damage(path)
    for call in (probe_video, decode_all, sample_video, lambda p: read_frames(p, [0])):
        with pytest.raises(VideoError, match=re.escape(str(path))):
            call(path)


def test_corrupt_stream_mid_file(tmp_path: Path) -> None:
    """Damage in the middle fails full decoding, but seeking reads frames on either side of it.

    Noisy frames make the coded frames most of the file; 0xff bytes hit NAL length fields,
    which the H.264 decoder rejects rather than conceals.
    """
    rng = np.random.default_rng(3)
    path = tmp_path / "noisy.mp4"
    write_video(path, (rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(60)), 10, gop=6)
    intact = decode_all(path)[[0, 1, 58, 59]]
    data = bytearray(path.read_bytes())
    lo, hi = int(len(data) * 0.45), int(len(data) * 0.55)
    data[lo:hi] = b"\xff" * (hi - lo)
    path.write_bytes(bytes(data))

    np.testing.assert_array_equal(read_frames(path, [0, 1, 58, 59]), intact)
    with pytest.raises(VideoError, match=re.escape(str(path))):
        decode_all(path)
    with pytest.raises(VideoError, match=re.escape(str(path))):
        read_frames(path, list(range(60)))


def test_write_rejects_empty_and_malformed_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "none.mp4", [], 10)
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", [np.zeros((47, 64, 3), np.uint8)], 10)
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic_when_frames_fail_midway(tmp_path: Path) -> None:
    def frames():
        yield from (frame(i) for i in range(5))
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_video(tmp_path / "partial.mp4", frames(), 10)
    assert list(tmp_path.iterdir()) == []


def test_cache_hits_misses_and_lru_bound(video: Path) -> None:
    cache = FrameCache()
    first = cache.get_or_load(video, [0, 50, 99])
    assert cache.get_or_load(video, [0, 50, 99]) is first
    assert (cache.hits, cache.misses) == (1, 1)
    assert not first.flags.writeable
    cache.get_or_load(video, [1, 2])
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 2)

    small = FrameCache(max_bytes=first.nbytes)
    small.get_or_load(video, [0, 50, 99])
    small.get_or_load(video, [1, 2, 3])
    assert len(small) == 1 and small.nbytes == first.nbytes


def test_whole_video_cache_decodes_once_and_slices_the_same_frames(video: Path, reference: np.ndarray) -> None:
    cache = FrameCache(whole_videos=True)
    for indices in ([0, 50, 99], [1, 2, 2, 3], [99]):
        frames = cache.get_or_load(video, indices)
        np.testing.assert_array_equal(frames, read_frames(video, indices))
        assert not frames.flags.writeable
    assert (cache.misses, cache.hits, len(cache)) == (1, 2, 1)  # one decode of every frame
    tight = FrameCache(max_bytes=reference[:3].nbytes * 4, whole_videos=True)  # too large to keep whole
    np.testing.assert_array_equal(tight.get_or_load(video, [0, 50, 99]), reference[[0, 50, 99]])
    assert len(tight) == 1 and tight.nbytes == reference[:3].nbytes


def test_cache_invalidated_when_file_changes(tmp_path: Path) -> None:
    cache = FrameCache()
    path = make(tmp_path, 20)
    assert indices_of(cache.get_or_load(path, [5])) == [5]
    write_video(path, (frame(i + 100) for i in range(24)), 10)
    assert indices_of(cache.get_or_load(path, [5])) == [105]
    assert (cache.hits, cache.misses) == (0, 2)


def test_cache_is_thread_safe(video: Path) -> None:
    cache = FrameCache()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: cache.get_or_load(video, [3, 30, 60]), range(16)))
    assert all(np.array_equal(r, results[0]) for r in results)
    assert cache.hits + cache.misses == 16 and len(cache) == 1


def test_disk_cache_survives_a_new_cache(tmp_path: Path, video: Path, reference: np.ndarray) -> None:
    directory = tmp_path / "cache"
    first = FrameCache(directory=directory)
    sampled = sample_video(video, cache=first)
    np.testing.assert_array_equal(sampled.frames, reference[sampled.source_indices])
    assert [p.suffix for p in directory.iterdir()] == [".npy"]

    second = FrameCache(directory=directory)
    again = sample_video(video, cache=second)
    np.testing.assert_array_equal(again.frames, sampled.frames)
    assert (second.hits, second.misses) == (1, 0)


def test_sampled_ids_map_back_to_source_frames() -> None:
    from aotd.data.sampling import SampledFrames, window_to_frames

    assert window_to_frames(1.0, 2.0, fps=10, num_frames=100) == (10, 20)
    assert window_to_frames(None, 50.0, fps=10, num_frames=100) == (0, 99)  # clipped to the video
    src = sample_indices(100, 32, 10, 40)
    clip = SampledFrames(np.zeros((32, 2, 2, 3), np.uint8), src, fps=10)
    assert clip.source_frame(0) == 10 and clip.source_frame(31) == 40
    assert clip.nearest_id(25) == int(np.abs(np.array(src) - 25).argmin())
    assert clip.ids_in_window(10, 12) == [i for i, s in enumerate(src) if 10 <= s <= 12]
    assert clip.time_of(31) == 4.0
    with pytest.raises(ValueError):
        sample_indices(0)
