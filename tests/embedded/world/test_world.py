"""The embedded world: STAR-format output, determinism, and that every label is right."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from aotd.data.loaders import load_dataset
from aotd.data.schema import QUESTION_FAMILIES
from aotd.data.star_classes import StarClasses
from aotd.data.star_program import check_sample
from aotd.data.video import probe_video, sample_video
from aotd.embedded.world import generate as gen
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.render import Noise, Renderer, parse_noise
from aotd.embedded.world.simulate import KEYFRAME_STEP, simulate
from aotd.embedded.world.vocab import OBJECT_CLASSES, world_classes
from aotd.errors import AotdError


def test_every_question_program_gives_its_label(world_dir: Path) -> None:
    """The generator answers from events, the executor from situations: they must agree."""
    ds = load_dataset("star", world_dir)
    classes = StarClasses.load(world_dir / "annotations" / "classes")
    assert len(ds) >= 250
    disagreements = [s.sample_id for s in ds.samples if not check_sample(s, classes).agrees]
    assert disagreements == []


def test_all_families_and_several_templates_each(world_dir: Path) -> None:
    ds = load_dataset("star", world_dir)
    families = Counter(s.question_type for s in ds.samples)
    assert set(families) == set(QUESTION_FAMILIES)
    templates = {s.template for s in ds.samples}
    for family in QUESTION_FAMILIES:
        assert sum(t.startswith(family) for t in templates) >= 3, family


def test_star_schema_and_splits(world_dir: Path) -> None:
    records = json.loads((world_dir / "annotations" / "STAR_train.json").read_text())
    rec = records[0]
    assert list(rec)[:9] == ["question_id", "question", "video_id", "start", "end", "answer",
                             "question_program", "choices", "situations"]
    assert len(rec["choices"]) == 4 and {c["choice_id"] for c in rec["choices"]} == {0, 1, 2, 3}
    assert [c["choice"] for c in rec["choices"]].count(rec["answer"]) == 1
    key, situation = next(iter(rec["situations"].items()))
    assert len(key) == 6 and int(key) % KEYFRAME_STEP == 0
    assert set(situation) == {"rel_pairs", "rel_labels", "actions", "bbox", "bbox_labels"}
    assert all(label.startswith("o") for label in situation["bbox_labels"])
    videos = json.loads((world_dir / "annotations" / "videos.json").read_text())
    by_split = {s: {vid for vid, v in videos.items() if v["split"] == s} for s in ("train", "val", "test")}
    assert by_split["train"] and by_split["test"]
    for split in ("train", "val", "test"):  # a video's questions stay in its split
        for r in json.loads((world_dir / "annotations" / f"STAR_{split}.json").read_text()):
            assert r["video_id"] in by_split[split]


def test_distractors_are_distinct_and_wrong(world_dir: Path) -> None:
    for s in load_dataset("star", world_dir).samples:
        texts = s.choice_texts
        assert len(set(texts)) == 4, s.sample_id
        assert s.answer_index is not None and texts[s.answer_index] == s.answer


def test_videos_decode_and_match_annotations(world_dir: Path) -> None:
    videos = json.loads((world_dir / "annotations" / "videos.json").read_text())
    vid, meta = next(iter(videos.items()))
    info = probe_video(world_dir / "videos" / f"{vid}.mp4")
    assert (info.num_frames, info.width, info.height) == (meta["num_frames"], meta["width"], meta["height"])
    clip = sample_video(info.path, n=32)
    assert clip.frames.shape == (32, meta["height"], meta["width"], 3)
    assert clip.frames.std() > 10  # a real picture, not a blank


def test_open_ended_twins(world_dir: Path) -> None:
    oe = load_dataset("jsonl", world_dir / "annotations" / "OE_train.jsonl")
    mc = {s.sample_id: s for s in load_dataset("star", world_dir, split="train").samples}
    assert len(oe) == len(mc)
    for s in oe.samples:
        assert s.open_ended and not s.choices and s.answer
        assert s.question == mc[s.sample_id].question


def test_prediction_window_ends_before_the_answer_action(world_dir: Path) -> None:
    classes = StarClasses.load(world_dir / "annotations" / "classes")
    preds = [s for s in load_dataset("star", world_dir).samples if s.question_type == "Prediction"]
    assert preds
    for s in preds:
        last = max(s.situations.values(), key=lambda x: x.frame)
        assert last.frame > round(s.end * 10), s.sample_id  # the predicted action's frames lie after the window
        assert last.actions and all(a in classes.actions for a in last.actions)


def test_same_seed_same_annotations_byte_for_byte(tmp_path: Path) -> None:
    def annotations(out: Path, seed: int) -> bytes:
        generate_world(WorldConfig(out=out, videos=4, seed=seed), progress=False)
        return b"".join((out / "annotations" / f"STAR_{s}.json").read_bytes() for s in ("train", "val", "test"))

    a, b, c = annotations(tmp_path / "a", 5), annotations(tmp_path / "b", 5), annotations(tmp_path / "c", 6)
    assert a == b
    assert a != c


def test_noise_level_changes_pixels_not_the_story() -> None:
    ep = simulate(np.random.default_rng(3))
    clean, _ = Renderer(ep, Noise.from_level(0.0), np.random.default_rng(0)).frame(ep.frames[10])
    noisy, _ = Renderer(ep, Noise.from_level(1.0), np.random.default_rng(0)).frame(ep.frames[10])
    assert np.abs(clean.astype(int) - noisy.astype(int)).mean() > 5
    assert parse_noise("high") == 0.8 and parse_noise("0.3") == 0.3
    with pytest.raises(ValueError):
        parse_noise("loud")


def test_vocabulary_is_rich_enough() -> None:
    classes = world_classes()
    actionable = [c for c in OBJECT_CLASSES if c.actionable]
    assert len(actionable) >= 12
    assert {"take", "put", "open", "close", "hold", "throw", "eat"} <= set(classes.verbs.values())
    assert len(classes.actions) == len(classes.action_map)


def test_bad_config_and_existing_world(tmp_path: Path) -> None:
    with pytest.raises(AotdError, match="--videos"):
        generate_world(WorldConfig(out=tmp_path, videos=0), progress=False)
    generate_world(WorldConfig(out=tmp_path / "w", videos=1), progress=False)
    with pytest.raises(AotdError, match="--force"):
        generate_world(WorldConfig(out=tmp_path / "w", videos=1), progress=False)
    generate_world(WorldConfig(out=tmp_path / "w", videos=2), force=True, progress=False)
    assert len(list((tmp_path / "w" / "videos").glob("*.mp4"))) == 2


def test_a_killed_run_leaves_no_manifest_or_annotations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = gen.build_video

    def dies_on_third(seed, index, *args):
        if index == 2:
            raise KeyboardInterrupt
        return real(seed, index, *args)

    monkeypatch.setattr(gen, "build_video", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        generate_world(WorldConfig(out=tmp_path, videos=4), progress=False)
    assert not (tmp_path / "world.json").exists()
    assert not list((tmp_path / "annotations").glob("STAR_*.json"))
    assert not list((tmp_path / "videos").glob(".*"))  # no temporary video left behind


def test_rendered_pixels_and_boxes_are_pinned() -> None:
    """The renderer is optimised without changing a byte: every world, trace and table made before
    stays reproducible. Twelve frames of one episode, hashed (the digest the renderer of
    2026-12-03, before the in-place arithmetic, gave)."""
    rng = np.random.default_rng([5, 3])
    noise = Noise.from_level(0.5)
    episode = simulate(rng, noise.color_jitter)
    renderer = Renderer(episode, noise, np.random.default_rng([5, 3, 1]))
    digest = hashlib.sha256()
    for state in episode.frames[:12]:
        pixels, boxes = renderer.frame(state)
        digest.update(pixels.tobytes())
        digest.update(repr(sorted(boxes.items())).encode())
    assert digest.hexdigest() == "023ff364b29e44f6c7976aa9cfb616ea5137b83e12314b959f33f6ccc7ab4b0e"
