"""The students as an lmms-eval model: the ``lmms_eval.models`` entry point (and the legacy
``LMMS_EVAL_PLUGINS`` layout) lead to ``AotdStudent``, which answers lmms-eval's requests about
real videos of the embedded world with a saved student, as ``aotd eval`` would prompt it.

Everything but the last section runs without lmms-eval; that section goes through lmms-eval's
own registry and ``Instance`` when lmms-eval is importable (``pip install --no-deps lmms-eval
loguru pytz`` is enough for it)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from aotd.data.loaders import load_dataset
from aotd.data.video import sample_video
from aotd.distill.students import load_student
from aotd.embedded.student.model import EmbeddedStudent, EmbeddedStudentConfig
from aotd.embedded.student.vision import VisionTower
from aotd.embedded.tools.clip_classifier import ClipNet
from aotd.embedded.tools.cnn_detector import CenterNet
from aotd.embedded.world.vocab import DETECTABLE
from aotd.errors import AotdError, VideoError
from aotd.integrations import LMMS_EVAL_CLASS, LMMS_EVAL_MODEL, lmms_eval_manifest
from aotd.integrations.lmms_eval import LMMS_EVAL, AotdStudent, images_to_frames, split_task_prompt, to_ascii
from aotd.models.options import LETTERS, answer_prompt, parse_option, rationale_prompt
from aotd.models.student import ANSWER

needs_lmms_eval = pytest.mark.skipif(not LMMS_EVAL, reason="lmms-eval is not installed")
TINY = EmbeddedStudentConfig(d_model=64, heads=2, layers=2, mlp=128, tokens_per_frame=1, max_length=320)
TASK, SPLIT = "aotd_world", "test"
GEN = {"max_new_tokens": 4, "temperature": 0, "do_sample": False, "until": ["\n\n"]}


@dataclass
class Request:
    """lmms-eval's ``Instance`` as a model sees it: ``args`` is the request's tuple."""

    request_type: str
    arguments: tuple

    @property
    def args(self) -> tuple:
        return self.arguments


def videomme_text(doc: dict[str, Any]) -> str:
    """Video-MME's layout (lmms_eval/tasks/videomme/utils.py): instruction, question, "A. x" options, post-prompt."""
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(doc["options"]))
    return ("Select the best answer to the following multiple-choice question based on the video. Respond with only "
            f"the letter (A, B, C, or D) of the correct option.\n{doc['question']}\n{options}\nThe best answer is:")


def doc_to_video(doc: dict[str, Any]) -> list[str]:
    return [doc["video"]]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained embedded student saved as a training run saves it (the cheapest real checkpoint)."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("lmms") / "model"
    EmbeddedStudent(VisionTower(CenterNet(len(DETECTABLE)), ClipNet()), TINY).save(out)
    return out


@pytest.fixture(scope="module")
def docs(world_dir: Path) -> list[dict[str, Any]]:
    """Three test questions of the session world as an lmms-eval task's documents (video path, question, options)."""
    return [{"video": str(s.video.path), "question": s.question, "options": s.choice_texts, "answer": s.answer}
            for s in load_dataset("star", world_dir, split="test").samples[:3]]


@pytest.fixture(scope="module")
def plugin(model_dir: Path, docs: list[dict[str, Any]]) -> AotdStudent:
    lm = AotdStudent(pretrained=str(model_dir), device="cpu")
    lm.task_dict[TASK] = {SPLIT: docs}
    return lm


def _ask(docs: list[dict[str, Any]], gen: dict[str, Any] | None = None) -> list[Request]:
    return [Request("generate_until", (videomme_text(d), dict(gen or GEN), doc_to_video, i, TASK, SPLIT))
            for i, d in enumerate(docs)]


# -- registration -------------------------------------------------------------------------------
def test_entry_point_gives_lmms_eval_a_manifest_naming_the_class(monkeypatch: pytest.MonkeyPatch) -> None:
    (ep,) = [e for e in entry_points(group="lmms_eval.models") if e.name == LMMS_EVAL_MODEL]
    assert ep.value == "aotd.integrations:lmms_eval_manifest"
    assert ep.load() is lmms_eval_manifest
    module, name = LMMS_EVAL_CLASS.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name) is AotdStudent
    assert AotdStudent.is_simple  # lmms-eval passes a simple model doc_to_visual
    monkeypatch.setitem(sys.modules, "lmms_eval.models.registry_v2", None)  # as if lmms-eval were not installed
    with pytest.raises(ImportError, match="pip install lmms-eval"):
        lmms_eval_manifest()


def test_legacy_plugin_layout_leads_to_the_same_class() -> None:
    """What lmms-eval does with LMMS_EVAL_PLUGINS=aotd.integrations (lmms_eval/models/__init__.py)."""
    plugin = "aotd.integrations"
    models = importlib.import_module(f"{plugin}.models")
    assert models.AVAILABLE_MODELS == {"aotd": "AotdStudent"}
    for name, cls in models.AVAILABLE_MODELS.items():
        module, attr = f"{plugin}.models.{name}.{cls}".rsplit(".", 1)
        assert getattr(importlib.import_module(module), attr) is AotdStudent


# -- answering ----------------------------------------------------------------------------------
def test_generate_until_answers_each_request_as_aotd_eval_prompts_the_student(
        plugin: AotdStudent, model_dir: Path, docs: list[dict[str, Any]]) -> None:
    replies = plugin.generate_until(_ask(docs))
    assert len(replies) == len(docs) and all(isinstance(r, str) for r in replies)
    assert plugin.failures == 0
    student = load_student(model_dir)
    for doc, reply in zip(docs, replies):
        frames = sample_video(doc["video"]).frames  # 32 frames, uniformly over the whole video
        raw = student.generate(frames, answer_prompt(doc["question"], doc["options"]), max_new_tokens=4).strip()
        parsed = parse_option(raw, doc["options"], rng_seed=0)
        assert reply == (raw if parsed.fallback else LETTERS[parsed.index])
    assert plugin.generate_until(_ask(docs)) == replies  # greedy: the same again


def test_task_prompt_and_rationale_modes(model_dir: Path, docs: list[dict[str, Any]]) -> None:
    doc = docs[0]
    student = load_student(model_dir)
    frames = sample_video(doc["video"]).frames
    as_task = AotdStudent(pretrained=str(model_dir), prompt="task", max_new_tokens=3, device="cpu")
    as_task.task_dict[TASK] = {SPLIT: docs}
    (reply,) = as_task.generate_until(_ask(docs[:1], {"until": []}))
    assert reply == student.generate(frames, videomme_text(doc), max_new_tokens=3).strip()

    explain = AotdStudent(pretrained=str(model_dir), rationale="true", rationale_tokens=6, device="cpu")
    explain.task_dict[TASK] = {SPLIT: docs}
    (answer,) = explain.generate_until(_ask(docs[:1]))
    rationale = student.generate(frames, rationale_prompt(doc["question"], doc["options"]), max_new_tokens=6).strip()
    assert answer.endswith("\n" + rationale)  # the answer first, then the rationale


def test_images_are_sampled_into_frames(plugin: AotdStudent, docs: list[dict[str, Any]]) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(3)]
    images.append(Image.fromarray(rng.integers(0, 256, (30, 20), dtype=np.uint8)))  # grey, another size
    frames = images_to_frames(images, 32)
    assert frames.shape == (32, 48, 64, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[0], np.asarray(images[0])) and np.array_equal(frames[-1][..., 0], frames[-1][..., 2])
    (reply,) = plugin.generate_until([Request("generate_until", ("What is shown?", GEN, lambda doc: images, 0, TASK, SPLIT))])
    assert isinstance(reply, str)


def test_loglikelihood_is_the_students_teacher_forced_log_probability(
        plugin: AotdStudent, model_dir: Path, docs: list[dict[str, Any]]) -> None:
    doc = docs[0]
    context = videomme_text(doc)
    continuations = [" B", doc["options"][1], ""]
    results = plugin.loglikelihood([Request("loglikelihood", (context, c, doc_to_video, 0, TASK, SPLIT))
                                    for c in continuations])
    assert results[-1] == (0.0, True)
    student = load_student(model_dir)
    student.model.eval()
    frames = student.prepare_frames(sample_video(doc["video"]).frames)
    prompt = answer_prompt(doc["question"], doc["options"])
    for continuation, (logp, greedy) in zip(continuations[:2], results[:2]):
        batch = student.collate([student.encode(frames, prompt, continuation.strip(), ANSWER)])
        with torch.no_grad():
            logits = student.logits(batch)[0]
        ids = batch["input_ids"][0].tolist()
        sep = ids.index(student.tokenizer.sep_id)
        steps = range(sep, len(ids) - 2)  # logits at <sep> predict the first target token; the last id is <eos>
        want = sum(float(torch.log_softmax(logits[t], -1)[ids[t + 1]]) for t in steps)
        assert logp == pytest.approx(want, abs=1e-4) and logp < 0
        assert greedy == all(int(logits[t].argmax()) == ids[t + 1] for t in steps)
    # output_type loglikelihood passes doc_to_target, a function of the document
    (same,) = plugin.loglikelihood([Request("loglikelihood", (context, lambda d: d["options"][1], doc_to_video, 0,
                                                              TASK, SPLIT))])
    assert same == results[1]


def test_multi_round_is_refused_clearly(plugin: AotdStudent) -> None:
    with pytest.raises(NotImplementedError, match="multi-round"):
        plugin.generate_until_multi_round([])


# -- errors -------------------------------------------------------------------------------------
def test_a_bad_checkpoint_is_a_one_line_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "runs" / "nowhere"
    with pytest.raises(AotdError) as info:
        AotdStudent(pretrained=str(missing), device="cpu")
    assert str(missing) in str(info.value) and "\n" not in str(info.value)
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "aotd_student.json").write_text('{"kind": "embedded"}')
    with pytest.raises(AotdError) as info:
        AotdStudent(pretrained=str(torn), device="cpu")
    assert str(torn) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(AotdError, match="pretrained="):
        AotdStudent(device="cpu")
    with pytest.raises(AotdError, match="unknown model_args"):
        AotdStudent(pretrained=str(torn), temprature=0)


def test_the_run_folder_is_accepted_for_its_model_folder(model_dir: Path) -> None:
    assert AotdStudent(pretrained=str(model_dir.parent), device="cpu").pretrained == model_dir


def test_an_unreadable_video_is_logged_and_scored_empty_unless_strict(
        model_dir: Path, docs: list[dict[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    bad_docs = [{**docs[0], "video": str(broken)}, docs[1]]
    lenient = AotdStudent(pretrained=str(model_dir), device="cpu")
    lenient.task_dict[TASK] = {SPLIT: bad_docs}
    replies = lenient.generate_until(_ask(bad_docs))
    assert replies[0] == "" and lenient.failures == 1
    assert str(broken) in caplog.text
    strict = AotdStudent(pretrained=str(model_dir), device="cpu", strict=True)
    strict.task_dict[TASK] = {SPLIT: bad_docs}
    with pytest.raises(VideoError, match="broken.mp4"):
        strict.generate_until(_ask(bad_docs))


# -- prompts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("context", [
    # Video-MME
    "Select the best answer to the following multiple-choice question based on the video. Respond with only the "
    "letter (A, B, C, or D) of the correct option.\nWhat was thrown?\nA. The shoe.\nB. The cup.\nThe best answer is:",
    # MVBench
    "Question:What was thrown?\nOption:\n(A) The shoe.\n(B) The cup.\nOnly give the best option.",
    # NExT-QA multiple choice, EgoSchema
    "<video>\nWhat was thrown?\nA. The shoe.\nB. The cup.\nAnswer with the option's letter from the given choices directly.",
    "Please answer the question about the video:\nWhat was thrown?\nA) The shoe.\nB) The cup.",
])
def test_task_prompts_are_read_back_into_the_students_layout(context: str) -> None:
    assert split_task_prompt(context) == ("What was thrown?", ["The shoe.", "The cup."])


def test_open_ended_and_unusual_prompts() -> None:
    assert split_task_prompt("What is the man doing?\nAnswer a question using a short phrase or sentence.") == (
        "What is the man doing?", [])
    assert split_task_prompt("Please describe the video.") == ("Please describe the video.", [])  # all instructions: kept
    assert split_task_prompt("A man walks in. What next?\nA: run\nB: sit\nD: fly") == (
        "A man walks in. What next?", ["run", "sit"])  # the run stops at a gap in the letters
    assert split_task_prompt("Is it red?\nA. yes") == ("Is it red?\nA. yes", [])  # one option is not a run
    assert to_ascii("It\u2019s \u201cd\u00e9j\u00e0 vu\u201d \u2014 ok\u2026") == 'It\'s "deja vu" - ok...'


# -- a transformers student ---------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_a_transformers_student_answers_and_scores(world_dir: Path, docs: list[dict[str, Any]], tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    from aotd.models.hf import tiny_hf_student

    tiny_hf_student("qwen2-vl").save(tmp_path / "model")
    lm = AotdStudent(pretrained=str(tmp_path / "model"), device="cpu")
    lm.task_dict[TASK] = {SPLIT: docs}
    replies = lm.generate_until(_ask(docs[:2]))
    scores = lm.loglikelihood([Request("loglikelihood", (videomme_text(docs[0]), " A", doc_to_video, 0, TASK,
                                                           SPLIT))])
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies) and lm.failures == 0
    ((logp, greedy),) = scores
    assert logp < 0 and isinstance(greedy, bool)


# -- through lmms-eval --------------------------------------------------------------------------
@needs_lmms_eval
def test_lmms_eval_registry_builds_the_model_and_it_answers_instances(
        model_dir: Path, docs: list[dict[str, Any]]) -> None:
    from lmms_eval.api.instance import Instance
    from lmms_eval.api.model import lmms
    from lmms_eval.models import MODEL_REGISTRY_V2, get_model

    resolved = MODEL_REGISTRY_V2.resolve(LMMS_EVAL_MODEL)
    assert (resolved.model_type, resolved.class_path) == ("simple", LMMS_EVAL_CLASS)
    cls = get_model(LMMS_EVAL_MODEL)
    assert cls is AotdStudent and issubclass(cls, lmms)
    # what lmms_eval.evaluator.simple_evaluate does with --model aotd --model_args ... --device cpu
    lm = cls.create_from_arg_string(f"pretrained={model_dir},max_new_tokens=4,rationale=false",
                                    {"batch_size": 1, "max_batch_size": None, "device": "cpu"})
    lm.task_dict[TASK] = {SPLIT: docs}
    requests = [Instance(request_type="generate_until", arguments=(videomme_text(d), dict(GEN), doc_to_video, i, TASK,
                                                                   SPLIT),
                         idx=0, metadata={"task": TASK, "doc_id": i, "repeats": 1}) for i, d in enumerate(docs)]
    replies = lm.generate_until(requests)
    assert len(replies) == len(docs) and all(isinstance(r, str) for r in replies)
    direct = AotdStudent(pretrained=str(model_dir), device="cpu")
    direct.task_dict[TASK] = {SPLIT: docs}
    assert replies == direct.generate_until(_ask(docs))


@needs_lmms_eval
def test_lmms_eval_finds_the_model_through_legacy_lmms_eval_plugins() -> None:
    code = ("from lmms_eval import models\n"
            "print(models.AVAILABLE_SIMPLE_MODELS['aotd'])\n"
            "print(models.get_model('aotd').__module__)\n")
    env = {**os.environ, "LMMS_EVAL_PLUGINS": "aotd.integrations"}
    out = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c", code], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert out == ["aotd.integrations.models.aotd.AotdStudent", "aotd.integrations.lmms_eval"]
