"""Video files: writing, probing and seek-based frame sampling with PyAV.

Every question looks at only 32 frames of its video, so frames are read by seeking to the
keyframe before each one and decoding forward only as far as needed; decoding whole
files would dominate the cost of a run. Decoded frames are mapped to source indices by
their timestamps, not by counting, so B-frames and files from other encoders land on the
right frames. ``FrameCache`` keeps samples that many questions and tools ask for again.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from aotd.data.sampling import SampledFrames, sample_indices, window_to_frames
from aotd.data.schema import NUM_FRAMES, VideoInfo
from aotd.errors import VideoError

_X264_OPTIONS = {"preset": "veryfast", "tune": "fastdecode"}
"""~0.7 ms/frame to encode 320x240; fastdecode (no CABAC, no deblocking) makes seek-sampling
~1.5x faster than plain veryfast, and files are ~40% smaller than with ultrafast."""

_AVINDEX_KEYFRAME = 1
_FORWARD_FRAMES = 32
"""Without a demuxer index, decode forward rather than seek across gaps up to this size."""

_FIX_DECODE = "re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or fetch it again"


# --------------------------------------------------------------------------- writing


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 23,
    gop: int = 12,
    codec: str = "libx264",
) -> VideoInfo:
    """Encode HxWx3 uint8 RGB frames to an mp4 (yuv420p), atomically.

    The file is written under a temporary name in the same folder and renamed at the end,
    so an interrupted run never leaves a truncated video under ``path``. A short keyframe
    interval (``gop``) and no B-frames keep seeks cheap and decode order = display order.
    """
    path = Path(path)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    stream = iter(frames)
    first = next(stream, None)
    if first is None:
        raise ValueError(f"no frames to write to {path}")
    shape = _check_frame(first, None, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path)
    try:
        count = _encode(tmp, itertools.chain([first], stream), shape, fps, crf=crf, gop=gop, codec=codec)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    height, width = shape
    return VideoInfo(
        video_id=path.stem, path=path, fps=float(fps), num_frames=count, width=width, height=height
    )


def _temp_sibling(path: Path) -> Path:
    """A unique hidden name next to ``path``: same filesystem, so ``os.replace`` is atomic."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _encode(
    target: Path,
    frames: Iterable[np.ndarray],
    shape: tuple[int, int],
    fps: float,
    *,
    crf: int,
    gop: int,
    codec: str,
) -> int:
    """Encode ``frames`` (all of size ``shape``) into ``target``; returns how many were written.

    ``crf`` and the x264 options apply to libx264; other encoders get their defaults.
    """
    rate = Fraction(fps).limit_denominator(1001)
    options = {"crf": str(crf), **_X264_OPTIONS} if codec == "libx264" else {}
    count = 0
    with av.open(str(target), "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.height, stream.width = shape
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = 0
        for count, array in enumerate(frames, start=1):
            _check_frame(array, shape, count - 1)
            frame = VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = count - 1, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return count


def _check_frame(array: np.ndarray, shape: tuple[int, int] | None, i: int) -> tuple[int, int]:
    """(H, W) of a valid frame; all frames must match the first one."""
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"frame {i}: expected an HxWx3 uint8 RGB array, got {got}")
    height, width = array.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"frame {i}: yuv420p needs even height and width, got {height}x{width}")
    if shape is not None and (height, width) != shape:
        first = f"{shape[0]}x{shape[1]}"
        raise ValueError(f"frame {i}: size {height}x{width} differs from the first frame's {first}")
    return height, width


# --------------------------------------------------------------------------- probing


@contextmanager
def _open(path: Path) -> Iterator[InputContainer]:
    """Open a video for reading; any PyAV error inside the block becomes a VideoError."""
    if not path.exists():
        raise VideoError(f"video {path} does not exist; check the path or download the videos")
    if not path.is_file():
        raise VideoError(f"video {path} is not a file; point to the video file itself")
    if path.stat().st_size == 0:
        raise VideoError(f"video {path} is an empty file; delete it and fetch or render it again")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            yield container
    except av.FFmpegError as exc:
        raise VideoError(f"video {path} cannot be decoded ({exc.strerror or exc}); {_FIX_DECODE}") from exc


def _video_stream(container: InputContainer, path: Path) -> VideoStream:
    if not container.streams.video:
        raise VideoError(f"{path} has no video stream; point to the video file itself")
    return container.streams.video[0]


def _frame_rate(stream: VideoStream, path: Path) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise VideoError(f"video {path} does not state a frame rate; {_FIX_DECODE}")
    return Fraction(rate)


def _info(path: Path, container: InputContainer, stream: VideoStream) -> VideoInfo:
    rate = _frame_rate(stream, path)
    num_frames = stream.frames or _count_packets(container, stream)
    if num_frames == 0:
        raise VideoError(f"video {path} has no frames; {_FIX_DECODE}")
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise VideoError(f"video {path} does not state its frame size; {_FIX_DECODE}")
    return VideoInfo(
        video_id=path.stem, path=path, fps=float(rate), num_frames=num_frames, width=width, height=height
    )


def _count_packets(container: InputContainer, stream: VideoStream) -> int:
    """Frame count for containers that do not store one: demux, but do not decode."""
    return sum(1 for packet in container.demux(stream) if packet.size)


def probe_video(path: str | Path) -> VideoInfo:
    """Frame rate, frame count and size without decoding any frame."""
    path = Path(path)
    with _open(path) as container:
        return _info(path, container, _video_stream(container, path))


@functools.lru_cache(maxsize=4096)
def _probe_version(resolved: str, mtime_ns: int, size: int) -> VideoInfo:
    """``probe_video`` once per file version: every question of a video asks (an open of the
    container each, ~1.5 ms)."""
    return probe_video(resolved)


# --------------------------------------------------------------------------- reading


def _pts(frame: VideoFrame, path: Path) -> int:
    if frame.pts is None:
        raise VideoError(f"video {path} has frames without timestamps; {_FIX_DECODE}")
    return frame.pts


@dataclass(frozen=True)
class _Clock:
    """Maps presentation timestamps to 0-based frame indices and back (constant frame rate)."""

    first_pts: int
    time_base: Fraction
    fps: Fraction

    def index(self, pts: int) -> int:
        return round((pts - self.first_pts) * self.time_base * self.fps)

    def pts(self, index: int) -> int:
        return self.first_pts + round(index / (self.fps * self.time_base))


def _keyframe_indices(stream: VideoStream, clock: _Clock) -> list[int]:
    """Frame indices of the keyframes in the demuxer's index (empty if it has none)."""
    return sorted(clock.index(e.timestamp) for e in stream.index_entries if e.flags & _AVINDEX_KEYFRAME)


def _should_seek(keyframes: list[int], position: int, target: int) -> bool:
    """Seek only if that skips decoding.

    Demuxers with an index seek to the index's keyframe before ``target``, so that must lie
    after ``position``; without an index, seek across gaps longer than ``_FORWARD_FRAMES``.
    """
    if keyframes:
        k = bisect.bisect_right(keyframes, target) - 1
        return k >= 0 and keyframes[k] > position
    return target - position > _FORWARD_FRAMES


class _Cursor:
    """Walks a video forward to ascending target indices, seeking only when that saves decoding.

    Index 0 is the first frame decoded from the start of the file (not the container's start
    time, which some muxers set earlier), so indices agree with ``decode_all``.
    """

    def __init__(self, container: InputContainer, stream: VideoStream, path: Path) -> None:
        self._container, self._stream, self._path = container, stream, path
        self._rewind()
        first = next(self._frames, None)
        if first is None:
            raise VideoError(f"video {path} has no decodable frames; {_FIX_DECODE}")
        self._clock = _Clock(_pts(first, path), Fraction(stream.time_base), _frame_rate(stream, path))
        self._keyframes = _keyframe_indices(stream, self._clock)
        self._ahead: tuple[int, VideoFrame] | None = None
        self.position, self.shown = 0, first

    def frame_at(self, target: int) -> VideoFrame | None:
        """The frame on screen at ``target``: the last one at or before it (exact for CFR).

        None if the stream ends more than one frame before ``target``.
        """
        if _should_seek(self._keyframes, self.position, target):
            self._seek(target)
        while self.position < target:
            step = self._ahead or self._step()
            self._ahead = None
            if step is None:
                return self.shown if self.position >= target - 1 else None
            if step[0] > target:
                self._ahead = step
                break
            self.position, self.shown = step
        return self.shown

    def _rewind(self) -> None:
        self._container.seek(0, stream=self._stream)
        self._frames: Iterator[VideoFrame] = self._container.decode(self._stream)

    def _step(self) -> tuple[int, VideoFrame] | None:
        frame = next(self._frames, None)
        return None if frame is None else (self._clock.index(_pts(frame, self._path)), frame)

    def _seek(self, target: int) -> None:
        """Jump to the keyframe before ``target``; if the demuxer overshoots, restart from frame 0."""
        self._container.seek(self._clock.pts(target), stream=self._stream)
        self._frames = self._container.decode(self._stream)
        first = self._step()
        if first is None or first[0] > target:
            self._rewind()
            first = self._step()
            if first is None or first[0] != 0:
                raise VideoError(f"video {self._path} cannot be rewound to its first frame; {_FIX_DECODE}")
        self._ahead = None
        self.position, self.shown = first


def _rgb(frame: VideoFrame, reformatter: VideoReformatter) -> np.ndarray:
    """HxWx3 RGB pixels.

    ``frame.to_ndarray(format=...)`` builds a new multi-threaded scaler per frame (~3-5 ms at
    320x240); one reused single-threaded scaler per call converts a frame in ~0.05 ms.
    """
    return reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()


def read_frames(path: str | Path, indices: Sequence[int]) -> np.ndarray:
    """Frames at 0-based source ``indices``, in the order asked (repeats allowed).

    Seeks to the keyframe before each needed frame and decodes forward only that far.
    """
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        info = _info(path, container, stream)
        bad = [i for i in indices if not 0 <= i < info.num_frames]
        if bad:
            raise VideoError(f"video {path} has {info.num_frames} frames; indices {bad[:5]} are out of range")
        if not indices:
            return np.empty((0, info.height, info.width, 3), np.uint8)
        cursor, reformatter = _Cursor(container, stream, path), VideoReformatter()
        frames: dict[int, np.ndarray] = {}
        for target in sorted(set(indices)):
            frame = cursor.frame_at(target)
            if frame is None:
                last = cursor.position
                raise VideoError(f"video {path} ends before frame {target} (last: {last}); {_FIX_DECODE}")
            frames[target] = _rgb(frame, reformatter)
    return np.stack([frames[i] for i in indices])


def decode_all(path: str | Path) -> np.ndarray:
    """Every frame, decoded sequentially: the slow reference that ``read_frames`` must match."""
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        reformatter = VideoReformatter()
        frames = [_rgb(frame, reformatter) for frame in container.decode(stream)]
    if not frames:
        raise VideoError(f"video {path} has no frames; {_FIX_DECODE}")
    return np.stack(frames)


def sample_video(
    path: str | Path,
    n: int = NUM_FRAMES,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    cache: FrameCache | None = None,
) -> SampledFrames:
    """``n`` frames spread uniformly over the window [start_s, end_s] (seconds) of a video."""
    version = _cache_key(Path(path), ())[:3]
    indices, fps = _sampled_indices(version, n, start_s, end_s)
    frames = cache.get_or_load(path, indices) if cache is not None else read_frames(path, indices)
    return SampledFrames(frames=frames, source_indices=indices, fps=fps, source="|".join(map(str, version)))


def sampled_indices(path: str | Path, n: int = NUM_FRAMES, *, start_s: float | None = None,
                    end_s: float | None = None) -> tuple[list[int], float]:
    """The source frames ``sample_video`` reads, and the frame rate, without decoding any."""
    return _sampled_indices(_cache_key(Path(path), ())[:3], n, start_s, end_s)


def _sampled_indices(version: tuple[str, int, int], n: int, start_s: float | None,
                     end_s: float | None) -> tuple[list[int], float]:
    info = _probe_version(*version)
    assert info.fps is not None and info.num_frames is not None  # _info always sets them
    lo, hi = window_to_frames(start_s, end_s, info.fps, info.num_frames)
    return sample_indices(info.num_frames, n, lo, hi), info.fps


# --------------------------------------------------------------------------- caching

_CacheKey = tuple[str, int, int, tuple[int, ...]]


class FrameCache:
    """Decoded frames per (video file version, indices), so repeated sampling decodes once.

    An in-memory LRU bounded by ``max_bytes``, optionally backed by ``.npy`` files in
    ``directory`` that survive across runs. Keys include the file's mtime and size, so an
    edited video is decoded again rather than served stale. Returned arrays are read-only
    because they are shared between callers; copy one before changing it.

    With ``whole_videos`` a video whose decoded frames take at most a quarter of ``max_bytes``
    is decoded once, start to end, and every request is sliced from it: the dozen questions
    of a short video then cost one sequential decode instead of a dozen seeking ones.
    """

    def __init__(self, max_bytes: int = 512 * 2**20, directory: str | Path | None = None,
                 whole_videos: bool = False) -> None:
        self.max_bytes, self.whole_videos = max_bytes, whole_videos
        self.directory = Path(directory) if directory is not None else None
        self.hits = 0
        self.misses = 0
        self._nbytes = 0
        self._entries: OrderedDict[_CacheKey, np.ndarray] = OrderedDict()
        self._too_large: set[_CacheKey] = set()  # videos too large to keep whole
        self._lock = threading.Lock()
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held in memory."""
        return self._nbytes

    def get_or_load(self, path: str | Path, indices: Sequence[int]) -> np.ndarray:
        """Frames as ``read_frames(path, indices)`` returns them, decoded at most once."""
        key = _cache_key(Path(path), indices)
        frames = self._held(key)
        if frames is not None:
            return frames
        if self.whole_videos:
            whole = self._whole(path, key)
            if whole is not None:
                frames = whole[list(key[3])]
                frames.flags.writeable = False
                return frames
        frames = self._load_disk(key)
        hit = frames is not None
        if frames is None:
            frames = read_frames(path, indices)
            self._save_disk(key, frames)
        frames.flags.writeable = False
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1
            self._remember(key, frames)
        return frames

    def _whole(self, path: str | Path, key: _CacheKey) -> np.ndarray | None:
        """Every frame of the video (kept in the LRU), or None when it is too large to keep."""
        whole_key = (*key[:3], ())
        frames = self._held(whole_key)
        if frames is not None or whole_key in self._too_large:
            return frames
        info = _probe_version(*key[:3])
        n = info.num_frames or 0
        if not n or n * info.width * info.height * 3 > self.max_bytes // 4:
            self._too_large.add(whole_key)  # not probed again: its requests are decoded one by one
            return None
        frames = read_frames(path, range(n))
        frames.flags.writeable = False
        with self._lock:
            self.misses += 1
            self._remember(whole_key, frames)
        return frames

    def _held(self, key: _CacheKey) -> np.ndarray | None:
        """The frames kept in memory under ``key`` (counted as a hit), or None."""
        with self._lock:
            frames = self._entries.get(key)
            if frames is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            return frames

    def _remember(self, key: _CacheKey, frames: np.ndarray) -> None:
        """Insert and evict least-recently used entries; too-large arrays are not kept."""
        if frames.nbytes > self.max_bytes or key in self._entries:
            return
        self._entries[key] = frames
        self._nbytes += frames.nbytes
        while self._nbytes > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self._nbytes -= old.nbytes

    def _disk_path(self, key: _CacheKey) -> Path | None:
        if self.directory is None:
            return None
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
        return self.directory / f"{Path(key[0]).stem}-{digest}.npy"

    def _load_disk(self, key: _CacheKey) -> np.ndarray | None:
        """A cached array from disk, or None if absent or unreadable (it is then rewritten)."""
        file = self._disk_path(key)
        if file is None or not file.is_file():
            return None
        try:
            frames = np.load(file, allow_pickle=False)
        except (OSError, ValueError):
            return None
        ok = frames.dtype == np.uint8 and frames.ndim == 4 and len(frames) == len(key[3])
        return frames if ok else None

    def _save_disk(self, key: _CacheKey, frames: np.ndarray) -> None:
        """Write atomically so that a concurrent reader never sees half an array."""
        file = self._disk_path(key)
        if file is None:
            return
        tmp = _temp_sibling(file)
        try:
            with tmp.open("wb") as handle:
                np.save(handle, frames, allow_pickle=False)
            os.replace(tmp, file)
        finally:
            tmp.unlink(missing_ok=True)


def _cache_key(path: Path, indices: Sequence[int]) -> _CacheKey:
    """Identity of a file version plus the frames asked for."""
    try:
        resolved = path.resolve(strict=True)
        stat = resolved.stat()
    except OSError as exc:
        fix = "check the path or download the videos"
        raise VideoError(f"video {path} cannot be read ({exc.strerror}); {fix}") from exc
    return (str(resolved), stat.st_mtime_ns, stat.st_size, tuple(int(i) for i in indices))
