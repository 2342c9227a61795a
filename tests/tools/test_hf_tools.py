"""The paper's tool models through transformers, on tiny random instances built from configs (offline, CPU).

Each adapter must return the tool API's types within their contracts: boxes inside the frame and
at most one per frame, windows inside the clip and 0..31, actions from the label list, answers
from the choices. Checkpoints are saved with ``save_pretrained`` to a temporary folder and named
in a config, so the registry's lazy ``from_pretrained`` path is the one exercised.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("transformers")

from aotd.agent.build import build_toolset  # noqa: E402 - registers the embedded candidates too
from aotd.config import Config, ToolChoice, load_config  # noqa: E402
from aotd.data.sampling import SampledFrames  # noqa: E402
from aotd.data.video import sample_video  # noqa: E402
from aotd.embedded.world.vocab import world_classes  # noqa: E402
from aotd.errors import AotdError  # noqa: E402
from aotd.tools import registry  # noqa: E402
from aotd.tools.api import ToolAPI  # noqa: E402
from aotd.tools.clip import Clip  # noqa: E402
from aotd.tools.hf import loading, tiny  # noqa: E402
from aotd.tools.hf.clip_window import ClipWindowGrounder, best_window  # noqa: E402
from aotd.tools.hf.detect import GroundingDinoDetector, OwlDetector  # noqa: E402
from aotd.tools.hf.labels import ActionLabel, for_object, labels_from_classes, load_labels  # noqa: E402
from aotd.tools.hf.prep import ImagePrep, Processing, sample_indices  # noqa: E402
from aotd.tools.hf.video_llm import (  # noqa: E402
    VideoLLM,
    VideoLLMGrounder,
    VideoLLMQA,
    VideoLLMRecognizer,
    parse_label,
    parse_window,
)
from aotd.tools.hf.xclip import XClipRecognizer  # noqa: E402
from aotd.tools.types import Action, Box, Window  # noqa: E402

DETECTORS = ["owl-vit", "owlv2", "grounding-dino"]
CPU = {"device": "cpu", "dtype": "float32"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(autouse=True)
def fresh_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no shared model loaded and no adapter built."""
    monkeypatch.setattr(loading, "_SHARED", {})
    monkeypatch.setattr(registry, "_HF_TOOLS", {})


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aotd.embedded.world.generate import WorldConfig, generate_world

    out = tmp_path_factory.mktemp("hf_world")
    generate_world(WorldConfig(out=out, videos=4, seed=3, workers=1), progress=False)
    return out


@pytest.fixture(scope="module")
def clip(small_world: Path) -> Clip:
    """A real rendered clip: 32 frames of 192 x 256 (not square, so OWLv2's padding matters)."""
    vid = sorted(json.loads((small_world / "annotations" / "videos.json").read_text()))[0]
    return Clip(sample_video(small_world / "videos" / f"{vid}.mp4"), vid)


@pytest.fixture(scope="module")
def labels() -> list[ActionLabel]:
    return labels_from_classes(world_classes())


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every family saved as a hub-like folder (config, weights, tokenizer, preprocessor config)."""
    root = tmp_path_factory.mktemp("hf_checkpoints")
    out = {family: tiny.save_pair(*tiny.tiny(family, seed=1), root / family) for family in tiny.FAMILIES}
    tiny.video_llm(seed=1).save(root / "video-llm")
    out["video-llm"] = root / "video-llm"
    return out


def _random_clip(n: int = 32, h: int = 48, w: int = 64, seed: int = 0) -> Clip:
    frames = np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    return Clip(SampledFrames(frames=frames, source_indices=list(range(0, 2 * n, 2)), fps=10.0), f"random{seed}")


def _detector(family: str, **kwargs) -> OwlDetector | GroundingDinoDetector:
    model, proc = tiny.tiny(family)
    cls = GroundingDinoDetector if family == "grounding-dino" else OwlDetector
    return cls(model, proc, **kwargs)


# --- detection -------------------------------------------------------------------------------
@pytest.mark.parametrize("family", DETECTORS)
def test_detector_gives_at_most_one_box_per_frame_inside_the_frame(family: str, clip: Clip) -> None:
    part = clip.trim(5, 16)
    boxes = _detector(family, threshold=0.0, batch_size=4).detect(part, "cup/glass/bottle")
    height, width = part.frames().shape[1:3]
    assert boxes and all(isinstance(b, Box) for b in boxes)
    frames = [b.frame for b in boxes]
    assert len(frames) == len(set(frames)) and set(frames) <= set(part.ids)
    for b in boxes:
        assert 0 <= b.x1 < b.x2 <= width and 0 <= b.y1 < b.y2 <= height
        assert b.label == "cup/glass/bottle" and isinstance(b.score, float)
    assert _detector(family, threshold=1.01).detect(part, "cup") == []  # nothing clears an impossible threshold


@pytest.mark.parametrize("family", DETECTORS)
def test_detector_batching_gives_the_batch_size_one_result(family: str) -> None:
    clip = _random_clip(n=7)
    one = _detector(family, threshold=0.0, batch_size=1).detect(clip, "book")
    many = _detector(family, threshold=0.0, batch_size=5).detect(clip, "book")
    assert [b.frame for b in one] == [b.frame for b in many]
    for a, b in zip(one, many):
        assert (b.x1, b.y1, b.x2, b.y2, b.score) == pytest.approx((a.x1, a.y1, a.x2, a.y2, a.score), abs=1e-3)


class _FixedOwl(torch.nn.Module):
    """An OWL stand-in predicting fixed boxes: to check the mapping back to frame pixels exactly."""

    def __init__(self, model_type: str, boxes: list[list[float]], scores: list[float]) -> None:
        super().__init__()
        self.config = SimpleNamespace(model_type=model_type, text_config=SimpleNamespace(max_position_embeddings=16))
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.boxes, self.logits = torch.tensor(boxes), torch.logit(torch.tensor(scores))

    def forward(self, pixel_values, input_ids, attention_mask):
        b = pixel_values.shape[0]
        return SimpleNamespace(pred_boxes=self.boxes.expand(b, -1, -1),
                               logits=self.logits.view(1, -1, 1).expand(b, -1, 1))


@pytest.mark.parametrize(("kind", "expected"), [("owl-vit", (25.6, 40.8, 38.4, 45.6, 0.9)),
                                              ("owlv2", (0.0, 0.0, 32.0, 32.0, 0.6))])
def test_owl_boxes_map_back_to_frame_pixels(kind: str, expected: tuple[float, ...]) -> None:
    """OWL-ViT's boxes are fractions of the stretched frame, OWLv2's of the padded square (side 64).

    The best-scoring box lies in OWLv2's padding below the 48-pixel-high frame: clipped to the
    frame it is empty, so the next box is kept; for OWL-ViT it is inside and wins.
    """
    boxes = [[0.25, 0.25, 0.5, 0.5], [0.5, 0.9, 0.2, 0.1]]  # cx, cy, w, h
    model = _FixedOwl(kind, boxes, [0.6, 0.9])
    det = OwlDetector(model, tiny.clip_tokenizer(), kind=kind, threshold=0.1)
    found = det.detect(_random_clip(n=2, h=48, w=64), "cup")
    assert [b.frame for b in found] == [0, 1]
    assert (found[0].x1, found[0].y1, found[0].x2, found[0].y2, found[0].score) == pytest.approx(expected, abs=1e-4)


def test_image_prep_layouts() -> None:
    frames = np.full((2, 48, 64, 3), 255, dtype=np.uint8)
    pad = ImagePrep("pad-square", 32, 32, mean=(0.0,) * 3, std=(1.0,) * 3)(frames)
    assert pad.shape == (2, 3, 32, 32) and float(pad[0, 0, 0, 0]) == pytest.approx(1.0)
    assert float(pad[0, 0, -1, 0]) == 0.0  # black below the frame
    assert ImagePrep("crop", 16, 16, shortest_edge=16)(frames).shape == (2, 3, 16, 16)
    dino = ImagePrep("shortest-edge", 24, 24, shortest_edge=24, longest_edge=30)
    assert dino(frames).shape == (2, 3, 22, 30) and dino.output_size(48, 64) == (22, 30)  # transformers' rounding
    saved = ImagePrep.from_dict("owlv2", ImagePrep.default("owlv2").to_dict("owlv2"))
    assert saved == ImagePrep.default("owlv2")


def test_shortest_edge_sizes_are_transformers_own() -> None:
    """Grounding DINO's 800 / 1333 rule, including a capped short side that rounds down (480 x 1920)."""
    from transformers.image_transforms import get_size_with_aspect_ratio

    dino = ImagePrep.default("grounding-dino")
    for h, w in [(480, 640), (720, 1280), (1080, 1920), (480, 1920), (1920, 480), (800, 1000), (333, 999), (48, 64)]:
        assert dino.output_size(h, w) == get_size_with_aspect_ratio((h, w), 800, 1333), (h, w)
    assert ImagePrep("shortest-edge", 24, 24, shortest_edge=24, longest_edge=30).output_size(48, 64) == \
        get_size_with_aspect_ratio((48, 64), 24, 30)


def _frames_to_downsample() -> np.ndarray:
    """Two smooth 96 x 128 frames (an upsampled random 24 x 32), so resampling filters agree to a grey level."""
    small = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 24, 32, 3), dtype=np.uint8))
    big = torch.nn.functional.interpolate(small.permute(0, 3, 1, 2).float(), size=(96, 128), mode="bilinear")
    return big.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("family", ["clip", "owl-vit", "grounding-dino", "xclip"])
def test_image_prep_matches_transformers_pil_image_processors(family: str) -> None:
    """Resize, crop, rescale, mean/std and channel order as transformers' own (PIL backend) processors.

    Sizes are shrunk to keep the test fast; both sides downsample (antialiasing matters). The PIL
    backend rounds to uint8 after resizing, so values agree to about one grey level, not exactly.
    """
    import transformers

    imagenet = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])  # xclip's checkpoint
    processor = {
        "clip": lambda: transformers.CLIPImageProcessorPil(size={"shortest_edge": 32},
                                                           crop_size={"height": 32, "width": 32}),
        "owl-vit": lambda: transformers.OwlViTImageProcessorPil(size={"height": 40, "width": 40}),
        "grounding-dino": lambda: transformers.GroundingDinoImageProcessorPil(
            size={"shortest_edge": 24, "longest_edge": 30}),  # capped, short side rounds down: 22 x 30
        "xclip": lambda: transformers.VideoMAEImageProcessorPil(size={"shortest_edge": 32},
                                                                crop_size={"height": 32, "width": 32}, **imagenet),
    }[family]()
    frames = _frames_to_downsample()
    if family == "xclip":
        want = processor([list(frames)], return_tensors="pt")["pixel_values"][0]  # one video
    else:
        want = processor(list(frames), return_tensors="pt")["pixel_values"]
    got = ImagePrep.from_dict(family, processor.to_dict())(frames)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) < 0.03 and float((got - want).abs().mean()) < 0.01


def _owlv2_resize_reference(image: np.ndarray, size: int) -> np.ndarray:
    """``Owlv2ImageProcessor.resize`` by hand: torchvision's Gaussian blur (sigma (factor - 1) / 2, 2 ceil(3 sigma)
    + 1 taps, reflected borders) when shrinking, then bilinear at pixel centres without antialiasing."""
    _, h, w = image.shape
    sigma = (h / size - 1) / 2
    if sigma > 0:
        k = 2 * int(np.ceil(3 * sigma)) + 1
        taps = np.arange(k) - k // 2
        g = np.exp(-(taps**2) / (2 * sigma**2))
        g /= g.sum()
        padded = np.pad(image, ((0, 0), (k // 2, k // 2), (k // 2, k // 2)), mode="reflect")
        image = sum(g[i] * g[j] * padded[:, i : i + h, j : j + w] for i in range(k) for j in range(k))

    def bilinear(n_in: int) -> np.ndarray:
        src = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        m = np.zeros((size, n_in))
        m[np.arange(size), lo] += 1 - (src - lo)
        m[np.arange(size), np.minimum(lo + 1, n_in - 1)] += src - lo
        return m

    return np.einsum("oh,chw,pw->cop", bilinear(h), image, bilinear(w))


@pytest.mark.parametrize("size", [24, 80])  # shrink (blurred first) and enlarge
def test_owlv2_prep_pads_black_bottom_right_then_resizes_as_transformers(size: int) -> None:
    """OWLv2 pads with 0.0 (transformers 5, PR #41938; transformers 4's grey 0.5 was OWL-ViT v1's): exactly
    ``Owlv2ImageProcessorPil`` without resizing, and its resize is the Gaussian-then-bilinear one."""
    import transformers

    frames = np.random.default_rng(0).integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    processor = transformers.Owlv2ImageProcessorPil(do_resize=False)  # its resize needs scipy; padding does not
    want = processor(list(frames), return_tensors="pt")["pixel_values"]
    prep = ImagePrep.from_dict("owlv2", processor.to_dict())
    got = ImagePrep("pad-square", 64, 64, prep.mean, prep.std)(frames)
    assert got.shape == want.shape == (2, 3, 64, 64) and float((got - want).abs().max()) < 1e-5
    padded = np.zeros((2, 3, 64, 64))
    padded[:, :, :48, :] = frames.transpose(0, 3, 1, 2) / 255.0
    plain = ImagePrep("pad-square", size, size, mean=(0.0,) * 3, std=(1.0,) * 3)(frames).numpy()
    assert plain == pytest.approx(np.stack([_owlv2_resize_reference(p, size) for p in padded]), abs=1e-5)


# --- recognition -----------------------------------------------------------------------------
def test_xclip_ranks_labels_from_the_list(clip: Clip, labels: list[ActionLabel]) -> None:
    rec = XClipRecognizer(*tiny.tiny("xclip"), labels=labels, top_k=5, batch_size=16)
    acts = rec.recognize(clip.trim(3, 20))
    pairs = {(lab.verb, lab.obj) for lab in labels}
    assert len(acts) == 5 and all(isinstance(a, Action) and (a.verb, a.obj) in pairs for a in acts)
    assert [a.score for a in acts] == sorted((a.score for a in acts), reverse=True)
    assert all(a.window == Window(3, 20, a.score) for a in acts)
    books = rec.recognize(clip, "book")
    assert books and {a.obj for a in books} == {"book"}
    assert {a.obj for a in rec.recognize(clip, "cup")} == {"cup/glass/bottle"}  # an alias of the class
    assert rec.recognize(clip, "unicorn") == []
    whole = XClipRecognizer(*tiny.tiny("xclip"), labels=labels, top_k=len(labels), batch_size=len(labels))
    assert [a.score for a in whole.recognize(clip)] == pytest.approx(
        [a.score for a in XClipRecognizer(*tiny.tiny("xclip"), labels=labels, top_k=len(labels),
                                          batch_size=7).recognize(clip)], abs=1e-5)


def test_frames_are_sampled_from_segment_middles() -> None:
    assert sample_indices(32, 8) == [2, 6, 10, 14, 18, 22, 26, 30]
    assert sample_indices(3, 6) == [0, 0, 1, 1, 2, 2]
    assert sample_indices(32, 32) == list(range(32))


def test_label_lists_load_from_star_folders_and_text_files(tmp_path: Path, small_world: Path) -> None:
    world = load_labels(small_world)  # finds annotations/classes
    assert world == labels_from_classes(world_classes())
    world_classes().save(tmp_path / "classes")
    assert load_labels(tmp_path / "classes") == world
    (tmp_path / "labels.txt").write_text("Opening the door\nTaking a cup\tpick up\tcup\n\n")
    assert load_labels(tmp_path / "labels.txt") == [ActionLabel("Opening the door", "opening", "door"),
                                                    ActionLabel("Taking a cup", "pick up", "cup")]
    assert for_object(world, "glass") and all(lab.obj == "cup/glass/bottle" for lab in for_object(world, "glass"))
    with pytest.raises(AotdError, match="label list not found"):
        load_labels(tmp_path / "nope.txt")


# --- grounding -------------------------------------------------------------------------------
def test_best_window_maximises_inside_minus_outside() -> None:
    sims = [0.1, 0.1, 0.9, 0.8, 0.9, 0.1, 0.2]
    assert best_window(sims, min_len=2)[:2] == (2, 4)
    assert best_window(sims, min_len=4)[:2] in ((1, 4), (2, 5))  # equal contrast
    assert best_window([0.3], min_len=2) == (0, 0, 0.0)
    i, j, _ = best_window([0.5, 0.5, 0.5], min_len=1)
    assert (i, j) == (0, 0)  # ties: the shortest, then the earliest


def test_clip_window_grounder_returns_a_window_inside_the_clip(clip: Clip) -> None:
    model, proc = tiny.tiny("clip")
    part = clip.trim(8, 19)
    window = ClipWindowGrounder(model, proc, min_len=3, batch_size=5).ground(part, "take the cup")
    assert isinstance(window, Window) and 8 <= window.start <= window.end <= 19 and window.length >= 3
    assert 0.0 < window.score < 1.0
    again = ClipWindowGrounder(model, proc, min_len=3, batch_size=1).ground(part, "take the cup")
    assert (again.start, again.end) == (window.start, window.end)
    assert ClipWindowGrounder(model, proc, min_len=3, threshold=1.0).ground(part, "take the cup") is None


def test_parse_window_clamps_to_the_clip() -> None:
    ids = tuple(range(10, 21))
    assert parse_window("12-18", ids) == Window(12, 18, 1.0)
    assert parse_window("from frame 18 to frame 12", ids) == Window(12, 18, 1.0)
    assert parse_window("0 - 40", ids) == Window(10, 20, 1.0)
    assert parse_window("around 15", ids) == Window(15, 15, 0.5)
    assert parse_window("I cannot tell", ids) is None


# --- the Video-LLM ---------------------------------------------------------------------------
class _Scripted(VideoLLM):
    """A Video-LLM whose replies are given: to check how each role reads them."""

    def __init__(self, reply: str) -> None:
        self.reply, self.asked = reply, []
        self.max_new_tokens = 8

    @property
    def version(self) -> str:
        return "scripted"

    def ask(self, clip: Clip, prompt: str, max_new_tokens: int | None = None) -> str:
        self.asked.append(prompt)
        return self.reply


def test_video_llm_recognition_always_names_a_label(labels: list[ActionLabel]) -> None:
    clip = _random_clip(n=6)
    books = for_object(labels, "book")
    assert parse_label("3", books, seed="s") == (2, True)
    assert parse_label(f"The person is {books[1].text.lower()}.", books, seed="s") == (1, True)
    index, parsed = parse_label("no idea", books, seed="s")
    assert 0 <= index < len(books) and not parsed
    llm = _Scripted("2")
    (act,) = VideoLLMRecognizer(llm, labels=labels).recognize(clip, "book")
    assert (act.verb, act.obj, act.score) == (books[1].verb, "book", 1.0) and act.window == Window(0, 5, 1.0)
    other = next(lab.text for lab in labels if lab.obj != "book")
    assert "1. " + books[0].text in llm.asked[0] and other not in llm.asked[0]  # only the book's labels
    (guess,) = VideoLLMRecognizer(_Scripted("hmm"), labels=labels).recognize(clip)
    assert (guess.verb, guess.obj) in {(lab.verb, lab.obj) for lab in labels} and guess.score == 0.0
    assert VideoLLMRecognizer(_Scripted("1"), labels=labels).recognize(clip, "unicorn") == []


def test_video_llm_qa_answers_one_of_the_choices() -> None:
    clip, choices = _random_clip(n=4), ["The cup.", "The book.", "The door."]
    assert VideoLLMQA(_Scripted("B")).answer(clip, "What did he take?", choices) == "The book."
    assert VideoLLMQA(_Scripted("the door")).answer(clip, "What did he open?", choices) == "The door."
    assert VideoLLMQA(_Scripted("???")).answer(clip, "What?", choices) in choices
    assert VideoLLMQA(_Scripted("a towel\nbecause")).answer(clip, "What?", None) == "a towel"


def test_tiny_video_llm_serves_every_role_on_a_real_clip(clip: Clip, labels: list[ActionLabel]) -> None:
    llm = VideoLLM(tiny.video_llm(), max_new_tokens=6)
    part = clip.trim(4, 15)  # 12 frames, resampled to the model's 32
    acts = VideoLLMRecognizer(llm, labels=labels).recognize(part)
    assert len(acts) == 1 and (acts[0].verb, acts[0].obj) in {(lab.verb, lab.obj) for lab in labels}
    window = VideoLLMGrounder(llm).ground(part, "take the cup")
    assert window is None or 4 <= window.start <= window.end <= 15
    assert VideoLLMQA(llm).answer(part, "What did the person take?", ["A cup.", "A book."]) in ("A cup.", "A book.")


# --- wiring: config, registry, errors --------------------------------------------------------
def _hf_choice(checkpoints: dict[str, Path], small_world: Path, **names: str) -> ToolChoice:
    models = {name: dict(model=str(checkpoints[fam]), **CPU, batch_size=4) for name, fam in
              (("owl-vit", "owl-vit"), ("owlv2", "owlv2"), ("grounding-dino", "grounding-dino"),
               ("xclip", "xclip"), ("clip-window", "clip"), ("video-llm", "video-llm"))}
    models["owlv2"]["threshold"] = 0.0
    return ToolChoice(models=models, labels=str(small_world / "annotations" / "classes"), **names)


def test_registry_builds_the_papers_toolset_from_saved_checkpoints(checkpoints, small_world: Path, clip: Clip) -> None:
    choice = _hf_choice(checkpoints, small_world, detection="owlv2", grounding="clip-window", recognition="xclip",
                        qa="video-llm")
    api = build_toolset(choice)
    assert isinstance(api, ToolAPI)
    assert not any(m.loaded for m in (api.detector, api.grounder, api.recognizer, api.qa))  # nothing loaded yet
    versions = [m.version for m in (api.detector, api.grounder, api.recognizer, api.qa)]  # cheap: no loading
    assert len(set(versions)) == 4 and not api.detector.loaded
    boxes = api.detect(clip, "book")
    assert boxes and len({b.frame for b in boxes}) == len(boxes)
    # the saved folder gives what the in-memory pair gives: weights, tokenizer and preprocessing survive
    pair = OwlDetector(*tiny.tiny("owlv2", seed=1), threshold=0.0).detect(clip, "book")
    assert [b.frame for b in pair] == [b.frame for b in boxes]
    coords = [v for b in boxes for v in (b.x1, b.y1, b.x2, b.y2)]
    assert coords == pytest.approx([v for b in pair for v in (b.x1, b.y1, b.x2, b.y2)], abs=1e-2)
    window = api.find_action(clip, "take the book")
    assert window is not None and 0 <= window.start <= window.end <= 31
    acts = api.recognize_actions(clip.trim(0, 9))
    assert acts and all(a.window == Window(0, 9, a.score) for a in acts)
    assert api.query(clip, "What did the person take?", ["The book.", "The cup."]) in ("The book.", "The cup.")
    assert api.detector.loaded and api.grounder.loaded


def test_one_video_llm_loads_once_for_all_three_roles(checkpoints, small_world: Path, clip: Clip) -> None:
    choice = _hf_choice(checkpoints, small_world, detection="color", grounding="video-llm",
                        recognition="video-llm", qa="video-llm")
    api = build_toolset(choice)
    lazy = api.grounder.llm._lazy
    assert api.recognizer.llm._lazy is lazy and api.qa.llm._lazy is lazy and not lazy.loaded
    api.find_action(clip, "take the book")
    api.recognize_actions(clip, "book")
    api.query(clip, "Which object?", ["book", "cup"])
    assert lazy.loads == 1
    assert build_toolset(choice).qa.llm._lazy is lazy  # a second toolset in the process shares it too


@pytest.mark.parametrize("family", ["owl-vit", "grounding-dino"])
def test_other_detectors_load_from_their_folders(family: str, checkpoints, small_world: Path) -> None:
    api = build_toolset(_hf_choice(checkpoints, small_world, detection=family, grounding="motion",
                                            recognition="motion", qa="presence"))
    boxes = api.detector.detect(_random_clip(n=3, h=40, w=40), "cup")
    assert all(0 <= b.x1 <= b.x2 <= 40 for b in boxes) and api.detector.name == family


@pytest.mark.parametrize(("change", "message"), [
    (dict(detection="owlv3"), r"tools\.detection: unknown detection candidate 'owlv3'"),
    (dict(recognition="owlv2"), r"tools\.recognition: unknown recognition candidate"),
    (dict(models={"owlv3": {}}), r"tools\.models\.owlv3: not a transformers candidate"),
    (dict(recognition="xclip"), r"tools\.labels: the recognizer 'xclip' needs an action label list"),
    (dict(recognition="video-llm", labels="/no/such/labels.txt"), r"tools\.labels: .*label list not found"),
    (dict(detection="owlv2", models={"owlv2": {"model": "/no/such/owlv2"}}), r"tools\.models\.owlv2\.model: .*not a dir"),
])
def test_bad_tool_configs_name_the_key_and_the_fix(change: dict, message: str) -> None:
    cheap = dict(detection="color", grounding="motion", recognition="motion", qa="presence")
    with pytest.raises(AotdError, match=message):
        build_toolset(ToolChoice(**{**cheap, **change}))


def test_a_model_that_cannot_load_fails_on_first_use_with_the_key(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    api = build_toolset(ToolChoice(detection="grounding-dino", grounding="motion", recognition="motion",
                                            qa="presence", models={"grounding-dino": {"model": str(tmp_path / "empty"),
                                                                                      **CPU}}))
    with pytest.raises(AotdError, match=r"tools\.models\.grounding-dino\.model: cannot load"):
        api.detector.detect(_random_clip(n=2), "cup")


def test_tools_config_schema_and_unchanged_default_digest(tmp_path: Path) -> None:
    assert ToolChoice().model_dump() == {"detection": "cnn", "grounding": "clip-cnn", "recognition": "clip-cnn",
                                         "qa": "visual"}  # old traces' digests still match
    text = """
tools:
  detection: owlv2
  grounding: clip-window
  recognition: video-llm
  qa: video-llm
  labels: data/star/STAR_classes
  models:
    owlv2: {device: cuda, dtype: bfloat16, batch_size: 16, threshold: 0.2}
    video-llm: {model: /models/LLaVA-NeXT-Video-7B-DPO-hf}
  candidates:
    detection: [color, cnn, owl-vit, owlv2, grounding-dino]
    recognition: [motion, xclip, video-llm]
"""
    (tmp_path / "c.yaml").write_text(text)
    cfg = load_config(tmp_path / "c.yaml")
    tools = cfg.tools
    assert tools.model_spec("owlv2").model == "google/owlv2-base-patch16-ensemble"
    assert tools.model_spec("owlv2").batch_size == 16 and tools.model_spec("clip-window").device == "auto"
    assert tools.model_spec("video-llm").model == "/models/LLaVA-NeXT-Video-7B-DPO-hf"
    assert registry.step1_candidates("recognition", tools) == ("motion", "xclip", "video-llm")
    assert registry.step1_candidates("grounding", tools) == ("motion", "clip-cnn")  # unset: the embedded ones
    again = Config.model_validate(yaml.safe_load(yaml.safe_dump(cfg.model_dump())))
    assert again == cfg and again.digest() != Config().digest()
    with pytest.raises(AotdError, match=r"tools\.candidates\.qa: unknown qa candidate 'xclip'"):
        registry.step1_candidates("qa", ToolChoice(candidates={"qa": ["xclip"]}))


def test_step1_scores_the_configured_hf_candidates(checkpoints, small_world: Path) -> None:
    from aotd.runner import RunOptions
    from aotd.select import run_selection

    choice = _hf_choice(checkpoints, small_world).model_copy(update={"labels": None})
    choice = choice.model_copy(update={"candidates": choice.candidates.model_copy(update={
        "detection": ["color", "owlv2"], "grounding": ["motion", "clip-window"], "recognition": ["xclip"],
        "qa": ["presence"]})})
    rows, chosen = run_selection(small_world, Config(tools=choice), split="train", limit=2, run=RunOptions(progress=False))
    scored = {(r.subtask, r.model) for r in rows}
    assert {("detection", "owlv2"), ("grounding", "clip-window"), ("recognition", "xclip")} <= scored
    assert chosen.tools.recognition == "xclip" and chosen.tools.labels  # the dataset's classes, for the agent
    assert chosen.tools.models["owlv2"].threshold == 0.0  # settings travel into the chosen config
    build_toolset(chosen.tools)


def test_hub_versions_follow_the_snapshot_commit_not_the_cache_folder(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub checkpoint's config.json is a symlink into blobs/: new weights under an unchanged config must still
    change the version (the snapshot's commit), and the same commit in another cache must not."""
    from huggingface_hub import constants

    def cache(root: Path, commit: str) -> None:
        repo = root / "models--org--tool"
        (repo / "blobs").mkdir(parents=True, exist_ok=True)
        (repo / "blobs" / "c0ffee").write_text('{"model_type": "clip"}')
        (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        link = repo / "snapshots" / commit / "config.json"
        if not link.exists():
            link.symlink_to(Path("..", "..", "blobs", "c0ffee"))
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)

    ref = loading.ModelRef("org/tool", **CPU)
    versions = []
    for root, commit in [(tmp_path / "a", "1" * 40), (tmp_path / "b", "1" * 40), (tmp_path / "a", "2" * 40)]:
        cache(root, commit)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
        versions.append(loading.pretrained_version("clip", ref))
    assert versions[0] == versions[1] != versions[2]
    assert loading.pretrained_version("clip", ref) != loading.pretrained_version("clip", loading.ModelRef("org/x"))


def test_adapters_from_a_processor_object_and_versions() -> None:
    model, proc = tiny.tiny("owlv2")
    image_processor = SimpleNamespace(to_dict=lambda: proc.prep.to_dict("owlv2"))  # a transformers processor's shape
    shim = SimpleNamespace(tokenizer=proc.tokenizer, image_processor=image_processor)
    det = OwlDetector(model, shim, threshold=0.0)
    assert det.model_and_processing()[1].prep == proc.prep
    assert OwlDetector(model, proc, threshold=0.0).version == det.version != OwlDetector(model, proc).version
    lazy = OwlDetector.from_pretrained("/no/such/folder", kind="owlv2", device="cpu")
    assert not lazy.loaded and isinstance(Processing.coerce(proc, "owlv2"), Processing)


# --- a video's questions share perception ------------------------------------------------------------
@pytest.mark.parametrize("family", DETECTORS)
def test_detector_runs_each_frame_and_query_once_across_a_videos_questions(family: str, clip: Clip) -> None:
    """A second question about overlapping frames runs the model on the new frames only, and
    finds what a fresh detector finds."""
    shared = _detector(family, threshold=0.0, batch_size=4)
    first = shared.detect(clip.trim(0, 11), "cup")
    assert (shared._boxes.hits, shared._boxes.misses) == (0, 12)
    second = shared.detect(clip.trim(6, 17), "cup")
    assert (shared._boxes.hits, shared._boxes.misses) == (6, 18)  # frames 6..11 came from the first question
    fresh = _detector(family, threshold=0.0, batch_size=4).detect(clip.trim(6, 17), "cup")
    assert [b.frame for b in second] == [b.frame for b in fresh] and first
    for a, b in zip(second, fresh):
        assert (a.x1, a.y1, a.x2, a.y2, a.score) == pytest.approx((b.x1, b.y1, b.x2, b.y2, b.score), abs=1e-3)
    shared.detect(clip.trim(6, 17), "book")  # another query: its own model runs
    assert shared._boxes.misses == 30


def test_clip_window_grounder_encodes_each_frame_once_across_queries(clip: Clip) -> None:
    model, proc = tiny.tiny("clip")
    shared = ClipWindowGrounder(model, proc, min_len=3, batch_size=5)
    shared.similarities(clip.trim(0, 15), "take the cup")
    sims = shared.similarities(clip.trim(8, 23), "open the book")  # another query, half the frames known
    assert (shared._images.hits, shared._images.misses) == (8, 24) and shared._texts.misses == 2
    fresh = ClipWindowGrounder(model, proc, min_len=3, batch_size=5).similarities(clip.trim(8, 23), "open the book")
    assert np.allclose(sims, fresh, atol=1e-5)
