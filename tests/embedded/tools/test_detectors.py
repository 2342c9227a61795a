"""Embedded detectors: the query/box contract, the colour matcher on clean frames, CNN training
mechanics on a tiny budget (the real two-minute training never runs here) and the evaluator."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from aotd.data.keyframes import annotated_keyframes
from aotd.data.sampling import SampledFrames
from aotd.embedded.tools.cnn_detector import MODEL_FILE, CNNDetector, train_cnn_detector
from aotd.embedded.tools.color_detector import ColorDetector, resolve_class
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.render import Noise, Renderer
from aotd.embedded.world.simulate import HEIGHT, WIDTH, simulate
from aotd.embedded.world.vocab import DETECTABLE
from aotd.select.detection import evaluate_detector
from aotd.tools.clip import Clip
from aotd.tools.types import Box

DISTINCT = ("food", "pillow", "towel", "door", "bag", "blanket", "phone/camera")
"""Classes whose colour no other class shares closely: clean frames should find them."""


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("detector-world")
    generate_world(WorldConfig(out=out, videos=3, seed=1, noise=0.5, questions_per_video=4), progress=False)
    return out


@pytest.fixture(scope="module")
def tiny_model(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_cnn_detector(tmp_path_factory.mktemp("model") / "tiny.pt", world_dir=tiny_world, videos=3,
                              epochs=3, progress=False)


@pytest.fixture(scope="module")
def world_clip(tiny_world: Path) -> Clip:
    kf = annotated_keyframes(tiny_world)[0]
    return Clip(kf.sampled(), kf.video_id)


def _clean_frames(seed: int, step: int = 12) -> tuple[Clip, list[dict[str, tuple[float, float, float, float]]]]:
    """Noise-free rendered frames of one episode, with the renderer's own boxes as truth."""
    noise = Noise.from_level(0.0)
    episode = simulate(np.random.default_rng(seed), noise.color_jitter)
    renderer = Renderer(episode, noise, np.random.default_rng([seed, 1]))
    states = episode.frames[::step]
    rendered = [renderer.frame(s) for s in states]
    sampled = SampledFrames(np.stack([f for f, _ in rendered]), [s.index for s in states], fps=10.0)
    return Clip(sampled, f"clean{seed}"), [b for _, b in rendered]


def _check_contract(boxes: list[Box], clip: Clip, label: str) -> None:
    frames = [b.frame for b in boxes]
    assert len(frames) == len(set(frames)), "at most one box per frame"
    assert set(frames) <= set(clip.ids)
    for b in boxes:
        assert b.label == label and 0.0 <= b.score <= 1.0
        assert 0 <= b.x1 < b.x2 <= WIDTH and 0 <= b.y1 < b.y2 <= HEIGHT


@pytest.mark.parametrize(("query", "expected"), [
    ("refrigerator", "refrigerator"), ("the fridge", "refrigerator"), ("cup", "cup/glass/bottle"),
    ("The Cup/Glass/Bottle", "cup/glass/bottle"), ("books", "book"), ("a laptop", "laptop"),
    ("table", None), ("the person", None), ("unicorn", None), ("", None),
])
def test_resolve_class(query: str, expected: str | None) -> None:
    assert resolve_class(query) == expected


def test_color_detector_finds_distinct_classes_on_clean_frames() -> None:
    ious: dict[str, list[float]] = {}
    for seed in range(6):
        clip, truth = _clean_frames(seed)
        for cls in DISTINCT:
            if not any(cls in t for t in truth):
                continue
            found = {b.frame: b for b in ColorDetector().detect(clip, cls)}
            for frame_id, t in zip(clip.ids, truth):
                if cls in t:
                    box = found.get(frame_id)
                    ious.setdefault(cls, []).append(0.0 if box is None else box.iou(Box(frame_id, *t[cls], cls)))
    assert len(ious) >= 3
    assert {cls: round(float(np.mean(v)), 2) for cls, v in ious.items() if np.mean(v) <= 0.5} == {}


@pytest.mark.parametrize("make", [ColorDetector, "cnn"])
def test_detector_contract(make: object, tiny_model: Path, world_clip: Clip) -> None:
    detector = CNNDetector.load(tiny_model) if make == "cnn" else ColorDetector()
    clip = world_clip.trim(3, 9)
    assert detector.detect(clip, "unicorn") == []
    assert detector.detect(clip, "person") == []
    for query in ("the refrigerator", "book", "cup", "window"):
        boxes = detector.detect(clip, query)
        _check_contract(boxes, clip, resolve_class(query) or "")
        assert boxes == detector.detect(clip, query)
    fresh = CNNDetector.load(tiny_model) if make == "cnn" else ColorDetector()
    assert fresh.detect(clip, "door") == detector.detect(clip, "door")


def test_cnn_training_writes_a_small_loadable_model_whose_loss_falls(tiny_model: Path, tiny_world: Path,
                                                                       tmp_path: Path) -> None:
    checkpoint = torch.load(tiny_model, weights_only=True)
    losses = checkpoint["train"]["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert tiny_model.stat().st_size < 5 * 2**20
    again = train_cnn_detector(tmp_path / "again.pt", world_dir=tiny_world, videos=3, epochs=3, progress=False)
    second = torch.load(again, weights_only=True)
    assert second["train"]["loss"] == losses
    assert all(torch.equal(v, second["state_dict"][k]) for k, v in checkpoint["state_dict"].items())


def test_cnn_load_uses_the_cache_folder_without_shipped_weights(tiny_model: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from aotd.embedded.tools import weights

    monkeypatch.setattr(weights, "SHIPPED", tmp_path / "not-shipped")
    monkeypatch.setenv("AOTD_CACHE", str(tmp_path))
    shutil.copy(tiny_model, tmp_path / MODEL_FILE)
    assert isinstance(CNNDetector.load(), CNNDetector)  # found in the cache: no training
    with pytest.raises(FileNotFoundError):
        CNNDetector.load(tmp_path / "missing.pt")


class _TruthDetector:
    """Answers from the annotations (test only) so the evaluator must score it perfectly."""

    name = "truth"

    def __init__(self, world: Path) -> None:
        self.truth = {(kf.video_id, f): b for kf in annotated_keyframes(world) for f, b in zip(kf.frames, kf.boxes)}

    def detect(self, clip: Clip, query: str) -> list[Box]:
        out = []
        for i in clip.ids:
            box = self.truth[(clip.video_id, clip.sampled.source_frame(i))].get(query)
            if box is not None:
                out.append(Box(i, *box, query))
        return out


def test_evaluator_scores_truth_perfectly_and_cnn_within_range(tiny_world: Path, tiny_model: Path) -> None:
    perfect = evaluate_detector(_TruthDetector(tiny_world), annotated_keyframes(tiny_world), DETECTABLE)
    assert perfect["pairs"] > 0 and perfect["frames"] > 0
    assert perfect["mean_iou"] == pytest.approx(1.0) and perfect["recall_at_0.5"] == 1.0 and perfect["fp_rate"] == 0.0
    assert set(perfect["per_class_iou"]) <= set(DETECTABLE)
    cnn = evaluate_detector(CNNDetector.load(tiny_model), annotated_keyframes(tiny_world, limit=2), DETECTABLE)
    assert 0 < cnn["frames"] < perfect["frames"]
    assert 0.0 <= cnn["mean_iou"] <= 1.0 and 0.0 <= cnn["fp_rate"] <= 1.0 and cnn["ms_per_frame"] > 0
