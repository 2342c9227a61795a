"""Recognition and grounding candidates: phrases, the motion baseline, clip-cnn training and eval."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from aotd.data.sampling import SampledFrames, sample_indices
from aotd.data.text import action_phrase
from aotd.embedded.tools.clip_classifier import ClipClassifier, train_clip_classifier
from aotd.embedded.tools.motion import MotionRecognizer
from aotd.embedded.tools.phrases import parse_action, world_actions
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.render import Noise, Renderer
from aotd.embedded.world.simulate import FPS, ActionEvent, simulate
from aotd.embedded.world.vocab import VERBS, world_classes
from aotd.select.actions import evaluate_grounding, evaluate_recognition
from aotd.tools.clip import Clip
from aotd.tools.types import Window


@pytest.mark.parametrize(("text", "expected"), [
    ("take the book", ("take", "book")),
    ("put down the cup/glass/bottle", ("put", "cup/glass/bottle")),
    ("putting the glass down", ("put", "cup/glass/bottle")),
    ("opening the refrigerator", ("open", "refrigerator")),
    ("the person opened the door", ("open", "door")),
    ("Closed closet", ("close", "closet/cabinet")),
    ("threw the phone", ("throw", "phone/camera")),
    ("ate sandwich", ("eat", "sandwich")),
    ("held the bottle", ("hold", "cup/glass/bottle")),
])
def test_parse_action_forms(text: str, expected: tuple[str, str]) -> None:
    assert parse_action(text) == expected


@pytest.mark.parametrize("text", ["dance with the book", "eat the book", "open the person", "the table", ""])
def test_parse_action_rejects_what_is_not_a_world_action(text: str) -> None:
    assert parse_action(text) is None


def test_action_phrase_round_trips_every_world_action() -> None:
    """The core's phrasing (data.text) and the world's grammar agree on every action."""
    assert len(world_actions()) == len(world_classes().actions) == 82
    assert all(parse_action(action_phrase(v, o)) == (v, o) for v, o in world_actions())
    assert all(action_phrase(v, o).startswith(f"{VERBS[v].base} the ") for v, o in world_actions())


@cache
def _clean_episode(seed: int) -> tuple[Clip, tuple[ActionEvent, ...]]:
    """A noise-free simulated episode as the 32-frame clip tools see, with its action events."""
    noise = Noise.from_level(0.0)
    episode = simulate(np.random.default_rng(seed), noise.color_jitter)
    renderer = Renderer(episode, noise, np.random.default_rng([seed, 1]))
    idx = sample_indices(episode.num_frames)
    frames = np.stack([renderer.frame(episode.frames[i])[0] for i in idx])
    return Clip(SampledFrames(frames, idx, FPS), f"episode{seed}"), tuple(episode.events)


def _event_window(clip: Clip, event: ActionEvent) -> Window:
    ids = clip.sampled.ids_in_window(event.start, event.end)
    return Window(ids[0], ids[-1])


@pytest.mark.parametrize(("seed", "verb", "obj"), [(33, "hold", "phone/camera"), (0, "open", "refrigerator"),
                                                   (3, "take", "book")])
def test_motion_recognizes_and_grounds_clear_actions(seed: int, verb: str, obj: str) -> None:
    clip, events = _clean_episode(seed)
    event = next(e for e in events if (e.verb, e.obj) == (verb, obj))
    gt = _event_window(clip, event)
    motion = MotionRecognizer()
    top = motion.recognize(clip.trim(gt.start, gt.end))[0]
    assert (top.verb, top.obj) == (verb, obj)
    assert top.window is not None and gt.start <= top.window.start <= top.window.end <= gt.end
    found = motion.ground(clip, action_phrase(verb, obj))
    assert found is not None and found.iou(gt) > 0


def test_motion_obj_filter_windows_and_unknown_query() -> None:
    clip, _ = _clean_episode(4)
    motion = MotionRecognizer()
    actions = motion.recognize(clip.trim(5, 15), obj="shoe")
    assert actions and all(a.obj == "shoe" for a in actions)
    assert all(a.window is None or 5 <= a.window.start <= a.window.end <= 15 for a in actions)
    assert [a.score for a in actions] == sorted((a.score for a in actions), reverse=True)
    assert motion.ground(clip, "juggle the moon") is None


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clip-cnn trained on a tiny budget: a real run takes minutes and never runs in tests."""
    out = tmp_path_factory.mktemp("clip") / "clip.pt"
    return train_clip_classifier(out, videos=2, epochs=3, steps_per_epoch=3, batch_size=4, log=False)


def test_train_clip_classifier_writes_a_loadable_file_and_learns(tiny_model: Path) -> None:
    import torch

    ckpt = torch.load(tiny_model, weights_only=True)
    assert ckpt["losses"][-1] < ckpt["losses"][0]
    assert tiny_model.stat().st_size < 5 * 2**20
    model = ClipClassifier.load(tiny_model)
    clip, _ = _clean_episode(4)
    sub = clip.trim(8, 20)
    actions = model.recognize(sub)
    assert actions and all(a.window is not None and 8 <= a.window.start <= a.window.end <= 20 for a in actions)
    assert all(a.obj == "book" for a in model.recognize(sub, obj="book"))
    assert model.ground(clip, "not an action at all") is None
    found = model.ground(clip, "take the phone")
    assert found is None or 0 <= found.start <= found.end <= 31


def test_evaluators_score_in_range(tmp_path: Path, tiny_model: Path) -> None:
    generate_world(WorldConfig(out=tmp_path, videos=2, seed=3), progress=False)
    rec = evaluate_recognition(MotionRecognizer(), tmp_path, split=None, limit=1)
    gnd = evaluate_grounding(ClipClassifier.load(tiny_model), tmp_path, split=None)
    assert rec.n > 0 and 0.0 <= rec.top1 <= 1.0
    assert gnd.n > 0 and 0.0 <= gnd.mean_iou <= 1.0 and 0.0 <= gnd.recall_at_05 <= 1.0
