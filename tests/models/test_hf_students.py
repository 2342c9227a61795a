"""Transformers students on tiny random models: encoding, batching, training modes, generation, save/load."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

from aotd.distill.loss import dual_loss  # noqa: E402
from aotd.models.hf import ARCHS, HFStudent, LoraSettings, load_hf_student, tiny_hf_student  # noqa: E402
from aotd.models.hf.arch import arch_spec, default_prep  # noqa: E402
from aotd.models.hf.configs import SEVEN_B, build_config, tiny_tokenizer, token_ids  # noqa: E402
from aotd.models.hf.lora import part_of  # noqa: E402
from aotd.models.hf.vision import VideoPrep, llava_frames, normalise, qwen_patches, smart_size  # noqa: E402
from aotd.models.options import answer_prompt, rationale_prompt  # noqa: E402
from aotd.models.student import (  # noqa: E402
    ANSWER,
    IGNORE,
    RATIONALE,
    Example,  # noqa: E402
)

ALL = list(ARCHS)
FRAMES = np.random.default_rng(0).integers(0, 256, (32, 64, 64, 3), dtype=np.uint8)
QUESTION = "What did the person do after opening the door?"
CHOICES = ["Sat on the bed.", "Took the cup."]
PROMPT = answer_prompt(QUESTION, CHOICES)
# tiny towers read 16x16 frames in 4x4 patches: NeXT-Video pools 4x4 -> 2x2 per frame; OneVision
# halves to 2x2 per frame plus one newline; Qwen2-VL merges 2x2 patches over 16 pairs of frames
VIDEO_TOKENS = {"llava-next-video": 32 * 4, "llava-onevision": 32 * 4 + 1, "qwen2-vl": 16 * 4, "qwen2.5-vl": 16 * 4}
NO_DROPOUT_LORA = LoraSettings(r=4, alpha=8, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: 10-100x faster on tiny matrices


def _split(example: Example) -> int:
    return next(i for i, s in enumerate(example.segments) if s != IGNORE)


def _step(student: HFStudent, examples: list[Example], lr: float = 1e-2) -> float:
    batch = student.collate(examples)
    params = [p for p in student.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    student.model.train()
    loss = dual_loss(student.logits(batch), batch["input_ids"], batch["segments"], lam=0.5).total
    loss.backward()
    optimizer.step()
    return loss.item()


def _snapshot(student: HFStudent) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in student.model.named_parameters()}


def _changed(student: HFStudent, before: dict[str, torch.Tensor]) -> set[str]:
    return {n for n, p in student.model.named_parameters() if not torch.equal(p, before[n])}


@pytest.mark.parametrize("arch", ALL)
def test_encode_masks_chat_prompt_and_video_and_marks_target_and_end(arch: str) -> None:
    student = tiny_hf_student(arch)
    example = student.encode(FRAMES, PROMPT, "B", ANSWER)
    ids, segments, k = example.input_ids, example.segments, _split(example)
    assert set(segments[:k]) == {IGNORE} and set(segments[k:]) == {ANSWER}
    assert ids[k:] == student.tokenizer("B", add_special_tokens=False)["input_ids"] + [student.end_id]
    assert student.tokenizer.decode(ids[k:-1]) == "B"
    video = [i for i, t in enumerate(ids) if t == student.video_id]
    assert len(video) == VIDEO_TOKENS[arch]
    assert video == list(range(video[0], video[0] + len(video))) and video[-1] < k
    # the prompt is the family's chat layout with the placeholder expanded in place
    layout = student.spec.layout
    collapsed = ids[: video[0] + 1] + ids[video[-1] + 1 : k]
    expected = ("<s>" if layout.bos else "") + layout.text(PROMPT)
    assert student.tokenizer.decode(collapsed) == expected
    assert expected.endswith(layout.tail) and layout.video in expected
    rationale = student.encode(FRAMES, rationale_prompt(QUESTION, CHOICES), "First the door opens.", RATIONALE)
    assert set(rationale.segments[_split(rationale) :]) == {RATIONALE}
    assert rationale.input_ids[-1] == student.end_id


@pytest.mark.parametrize("arch", ALL)
def test_pixel_inputs_have_the_shapes_the_model_reads(arch: str) -> None:
    student = tiny_hf_student(arch)
    visual = student.encode(FRAMES, PROMPT, "B", ANSWER).visual
    if student.spec.qwen:
        assert tuple(visual["video_patches"].shape) == (16 * 4 * 4, 3 * 2 * 4 * 4)
        assert visual["video_grid_thw"].tolist() == [16, 4, 4]
    else:
        assert tuple(visual["video_frames"].shape) == (32, 3, 16, 16)
    pixels = next(v for k, v in visual.items() if k.startswith("video_") and v.dtype == torch.uint8)
    inputs = student.model_inputs(student.collate([student.encode(FRAMES, PROMPT, "B", ANSWER)]))
    mean, std = torch.tensor(student.prep.mean), torch.tensor(student.prep.std)
    channel0 = pixels.reshape(pixels.shape[0], 3, -1)[:, 0] if student.spec.qwen else pixels[:, 0]
    expected = (channel0.float() / 255 - mean[0]) / std[0]
    got = inputs["pixel_values_videos"]
    got0 = got.reshape(got.shape[0], 3, -1)[:, 0] if student.spec.qwen else got[0, :, 0]
    torch.testing.assert_close(got0, expected)


@pytest.mark.parametrize("arch", ALL)
def test_collate_pads_with_ignore_and_padding_does_not_change_logits(arch: str) -> None:
    student = tiny_hf_student(arch)
    short = student.encode(FRAMES, PROMPT, "B", ANSWER)
    long = student.encode(FRAMES[::-1].copy(), rationale_prompt(QUESTION, CHOICES), "The door opens, then he sits.",
                          RATIONALE)
    n = len(short.input_ids)
    assert len(long.input_ids) > n
    batch = student.collate([short, long])
    assert batch["input_ids"].shape == batch["segments"].shape == (2, len(long.input_ids))
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (len(long.input_ids) - n)
    assert (batch["segments"][0, n:] == IGNORE).all() and (batch["input_ids"][0, n:] == student.pad_id).all()
    if student.spec.qwen:
        assert batch["video_grid_thw"].shape == (2, 3)
        assert int((batch["mm_token_type_ids"] == 2).sum()) == 2 * VIDEO_TOKENS[arch]
    student.model.eval()
    with torch.no_grad():
        alone = student.logits(student.collate([short]))[0]
        padded = student.logits(batch)
    assert padded.shape[:2] == batch["input_ids"].shape
    torch.testing.assert_close(padded[0, :n], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ALL)
def test_full_fine_tuning_step_trains_language_side_and_keeps_vision_frozen(arch: str) -> None:
    student = tiny_hf_student(arch)
    examples = [student.encode(FRAMES, PROMPT, "B", ANSWER),
                student.encode(FRAMES, rationale_prompt(QUESTION, CHOICES), "He sits down.", RATIONALE)]
    parts = {n: part_of(n, student.spec) for n, _ in student.model.named_parameters()}
    trainable = {n for n, p in student.model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, part in parts.items() if part != "vision"}
    before = _snapshot(student)
    loss = _step(student, examples)
    assert np.isfinite(loss)
    changed = _changed(student, before)
    assert changed <= trainable
    assert not any(parts[n] == "vision" for n in changed)
    assert "lm_head.weight" in changed or any("embed_tokens" in n for n in changed)
    assert any(".layers.0." in n and parts[n] == "language" for n in changed)
    assert any(parts[n] == "projector" for n in changed)
    counts = student.parameter_counts()
    assert counts["trainable"] == counts["total"] - counts["vision"]


@pytest.mark.parametrize("arch", ALL)
def test_lora_step_changes_only_adapters_on_the_language_model(arch: str) -> None:
    student = tiny_hf_student(arch, lora=NO_DROPOUT_LORA)
    trainable = {n for n, p in student.model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n and "language_model" in n for n in trainable)
    assert any("mlp.down_proj" in n for n in trainable) and any("self_attn.q_proj" in n for n in trainable)
    before = _snapshot(student)
    loss = _step(student, [student.encode(FRAMES, PROMPT, "B", ANSWER)])
    assert np.isfinite(loss)
    changed = _changed(student, before)
    assert changed and changed <= trainable
    assert student.parameter_counts()["trainable"] == sum(before[n].numel() for n in trainable)


@pytest.mark.parametrize("arch", ALL)
def test_greedy_generation_matches_teacher_forced_argmax(arch: str) -> None:
    student = tiny_hf_student(arch)
    generated = student.generate_ids(FRAMES, PROMPT, max_new_tokens=5)
    assert 1 <= len(generated) <= 5
    visual, n_video = student.visual(FRAMES)
    prompt = student.prompt_ids(PROMPT, n_video)
    ids = prompt + generated
    student.model.eval()
    with torch.no_grad():
        logits = student.logits(student.collate([Example(ids, [IGNORE] * len(ids), visual)]))
    assert logits[0, len(prompt) - 1 : -1].argmax(-1).tolist() == generated
    assert isinstance(student.generate(FRAMES, PROMPT, max_new_tokens=3), str)


@pytest.mark.parametrize("lora", [None, NO_DROPOUT_LORA], ids=["full", "lora"])
@pytest.mark.parametrize("arch", ALL)
def test_save_and_load_give_identical_logits(arch: str, lora: LoraSettings | None, tmp_path: Path) -> None:
    student = tiny_hf_student(arch, lora=lora)
    example = student.encode(FRAMES, PROMPT, "B", ANSWER)
    _step(student, [example])  # trained weights (and adapters) differ from any fresh init
    student.save(tmp_path)
    loaded = load_hf_student(tmp_path)
    assert (loaded.spec, loaded.lora, loaded.prep, loaded.max_length) == (student.spec, lora, student.prep, 2048)
    again = loaded.encode(FRAMES, PROMPT, "B", ANSWER)
    assert again.input_ids == example.input_ids and again.segments == example.segments
    assert ({n for n, p in loaded.model.named_parameters() if p.requires_grad}
            == {n for n, p in student.model.named_parameters() if p.requires_grad})
    student.model.eval()
    loaded.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.logits(loaded.collate([again])), student.logits(student.collate([example])),
                                   atol=0, rtol=0)


def test_a_saved_student_loads_only_as_its_own_architecture(tmp_path: Path) -> None:
    tiny_hf_student("qwen2-vl").save(tmp_path)
    with pytest.raises(ValueError, match="not llava-onevision"):
        load_hf_student(tmp_path, arch="llava-onevision")
    with pytest.raises(ValueError, match="already holds"):
        tiny_hf_student("qwen2-vl", lora=NO_DROPOUT_LORA).save(tmp_path / "lora")
        load_hf_student(tmp_path / "lora", lora=NO_DROPOUT_LORA)


@pytest.mark.parametrize("arch", ["llava-onevision", "qwen2-vl"])
def test_bad_inputs_raise_value_errors(arch: str) -> None:
    student = tiny_hf_student(arch, max_length=300)
    with pytest.raises(ValueError, match="max_length of 300"):
        student.encode(FRAMES, answer_prompt("why " * 400, CHOICES), "B", ANSWER)
    with pytest.raises(ValueError, match="max_length"):
        student.generate(FRAMES, "why " * 400)
    with pytest.raises(ValueError, match="reserved token"):
        student.encode(FRAMES, f"{student.spec.layout.video} twice?", "B", ANSWER)
    with pytest.raises(ValueError, match="reads 32 frames"):
        student.encode(FRAMES[:16], PROMPT, "B", ANSWER)
    with pytest.raises(ValueError, match="uint8"):
        student.encode(FRAMES.astype(np.float32), PROMPT, "B", ANSWER)
    with pytest.raises(ValueError, match="segment"):
        student.encode(FRAMES, PROMPT, "B", IGNORE)


def test_qwen_patches_keep_each_merge_window_contiguous() -> None:
    """Row order: temporal pair, merge window (row-major), patch in window; values (C, t, y, x)."""
    prep = VideoPrep(resize="qwen", patch_size=2, merge_size=2, temporal_patch_size=2, min_pixels=64, max_pixels=64)
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    patches, grid = qwen_patches(frames, prep)
    assert grid == (2, 4, 4) and tuple(patches.shape) == (32, 3 * 2 * 2 * 2)

    def patch(t: int, y: int, x: int) -> torch.Tensor:  # patch (y, x) of the frame pair t
        block = frames[2 * t : 2 * t + 2, 2 * y : 2 * y + 2, 2 * x : 2 * x + 2]  # (t, y, x, C)
        return torch.from_numpy(block).permute(3, 0, 1, 2).reshape(-1)

    order = [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (0, 0, 2), (0, 0, 3), (0, 1, 2)]
    for row, (t, y, x) in enumerate(order):
        assert torch.equal(patches[row], patch(t, y, x))
    assert torch.equal(patches[16], patch(1, 0, 0))


def test_resize_rules() -> None:
    assert smart_size(480, 640, 28, 128 * 28 * 28, 360 * 420) == (336, 448)
    assert smart_size(64, 64, 8, 256, 256) == (16, 16)
    frames = np.zeros((2, 64, 128, 3), dtype=np.uint8)
    frames[:, :, 16:112] = 255  # white but for black strips at the sides, outside the centre square
    crop = llava_frames(frames, VideoPrep(resize="crop", size=16))
    assert crop.shape == (2, 3, 16, 16) and crop.dtype == torch.uint8 and crop.min() >= 250
    square = llava_frames(frames, VideoPrep(resize="square", size=16))
    assert square.shape == (2, 3, 16, 16) and square.min() <= 5
    unit = VideoPrep(resize="square", mean=(0.5,) * 3, std=(0.5,) * 3)
    assert normalise(crop, unit).min() > 0.95 and normalise(square, unit).min() < -0.95


@pytest.mark.parametrize(("arch", "billions", "video_tokens"), [
    ("llava-next-video", 7.06, 32 * 12 * 12), ("llava-onevision", 8.03, 32 * 14 * 14 + 1),
    ("qwen2-vl", 8.29, 16 * 12 * 16), ("qwen2.5-vl", 8.29, 16 * 12 * 16)])
def test_seven_b_configs_match_the_published_models(arch: str, billions: float, video_tokens: int) -> None:
    """The benchmark's 7B shapes, built on the meta device: sizes as on the model cards, and 32
    frames of 480x640 become 144 (NeXT-Video), 196 (OneVision) tokens a frame, 192 per 2 (Qwen)."""
    spec = arch_spec(arch)
    tokenizer = tiny_tokenizer(spec)
    text, vision = SEVEN_B[arch]
    config = build_config(spec, text, vision, token_ids(tokenizer, spec.specials))
    with torch.device("meta"):
        model = spec.cls._from_config(config, dtype=torch.bfloat16)
    student = HFStudent(spec, model, tokenizer, default_prep(spec, config), max_length=8192, num_frames=32)
    assert student.parameter_counts()["total"] / 1e9 == pytest.approx(billions, abs=0.005)
    frames = np.zeros((32, 480, 640, 3), dtype=np.uint8)
    assert student.encode(frames, PROMPT, "B", ANSWER).input_ids.count(student.video_id) == video_tokens


def test_gpu_benchmark_runs_on_tiny_configs(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).parents[2] / "benchmarks" / "hf_students_gpu.py"
    spec = importlib.util.spec_from_file_location("hf_students_gpu", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--tiny", "--arch", "llava-onevision", "qwen2.5-vl", "--mode", "lora", "--grad-ckpt",
                        "--optimizer", "--steps", "1", "--warmup", "0", "--target-tokens", "8"]) == 0
    out = capsys.readouterr().out
    assert out.count('"tokens_per_s"') == 2 and '"error"' not in out
