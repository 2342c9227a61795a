"""Per-frame tool outputs shared across the questions of a video (``tools.memo``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aotd.data.loaders import load_dataset
from aotd.data.video import FrameCache, sample_video
from aotd.embedded.tools.clip_classifier import ClipClassifier
from aotd.embedded.tools.cnn_detector import CNNDetector
from aotd.embedded.tools.motion import MotionRecognizer
from aotd.tools.clip import Clip
from aotd.tools.memo import FrameMemo


def test_frame_memo_computes_each_missing_key_once_in_one_call() -> None:
    calls: list[list[int]] = []
    memo: FrameMemo[str] = FrameMemo(limit=3)

    def compute(positions: list[int]) -> list[str]:
        calls.append(positions)
        return [f"v{p}" for p in positions]

    assert memo.get(["a", "b", "a"], compute) == ["v0", "v1", "v0"]  # a repeated frame is computed once
    assert memo.get(["b", "c"], lambda ps: [f"new{p}" for p in ps]) == ["v1", "new1"]
    assert calls == [[0, 1]] and (memo.hits, memo.misses) == (2, 3)
    memo.get(["d"], lambda ps: ["x"])
    assert len(memo) == 3  # the least recently used ("a") went


@pytest.fixture(scope="module")
def two_questions(world_dir: Path) -> tuple[Clip, Clip]:
    """Two questions of one video whose windows overlap, as tools see them."""
    train = load_dataset("star", world_dir, split="train").samples
    cache = FrameCache(whole_videos=True)
    for a in train:
        for b in train:
            if a is not b and a.video.video_id == b.video.video_id:
                clips = [Clip(sample_video(s.video.path, start_s=s.start, end_s=s.end, cache=cache), s.video.video_id)
                         for s in (a, b)]
                shared = set(clips[0].sampled.source_indices) & set(clips[1].sampled.source_indices)
                if 4 <= len(shared) < len(set(clips[1].sampled.source_indices)):
                    return clips[0], clips[1]
    raise AssertionError("the session world has no two questions with overlapping windows")


def test_detector_runs_a_frame_seen_by_an_earlier_question_no_more(two_questions: tuple[Clip, Clip]) -> None:
    first, second = two_questions
    shared, fresh = CNNDetector.load(), CNNDetector.load()
    shared.detect(first, "cup")
    before = shared._frames.misses
    assert shared.detect(second, "cup") == fresh.detect(second, "cup")
    assert [shared.detect(second, c) for c in ("door", "laptop")] == [fresh.detect(second, c) for c in ("door", "laptop")]
    new = len(set(second.sampled.frame_digests()) - set(first.sampled.frame_digests()))
    assert shared._frames.misses - before == new < len(set(second.sampled.frame_digests()))


def test_recognizer_encodes_a_frame_pair_seen_before_no_more(two_questions: tuple[Clip, Clip]) -> None:
    first, second = two_questions
    shared, fresh = ClipClassifier.load(), ClipClassifier.load()
    shared.action_probs(first)
    before = shared._encodings.misses
    np.testing.assert_array_equal(shared.action_probs(second), fresh.action_probs(second))
    trimmed = second.trim(3, 20)
    np.testing.assert_array_equal(shared.action_probs(trimmed), fresh.action_probs(trimmed))
    assert shared.recognize(second) == fresh.recognize(second)
    assert shared._encodings.misses - before < len(second)  # some pairs came from the first question


def test_motion_tool_reads_a_frame_seen_before_no_more(two_questions: tuple[Clip, Clip]) -> None:
    """Step 1 grounds each of a video's actions on the same clip: its frames' colour labels are
    computed once, with the answers a fresh tool gives."""
    first, second = two_questions
    shared, fresh = MotionRecognizer(), MotionRecognizer()
    shared.ground(first, "taking the cup")
    before = shared._memo.misses
    for query in ("taking the cup", "opening the door", "putting down the book"):
        assert shared.ground(second, query) == fresh.ground(second, query)
    assert shared.recognize(second.trim(2, 12)) == fresh.recognize(second.trim(2, 12))
    new = len(set(second.sampled.frame_digests()) - set(first.sampled.frame_digests()))
    assert shared._memo.misses - before == new < len(set(second.sampled.frame_digests()))
