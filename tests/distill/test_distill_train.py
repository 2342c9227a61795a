"""The trainer: learning, resume to the same weights, errors before training, DDP over gloo."""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from distill_toy import ToyStudent

from aotd.data.records import TrainRecord
from aotd.distill.train import TrainConfig, prepare, train
from aotd.errors import DataError
from aotd.models.options import answer_prompt, rationale_prompt
from aotd.models.student import ANSWER, RATIONALE

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _records(n: int = 48) -> list[TrainRecord]:
    """Which colour fills the video? The answer is in the pixels; every third has a rationale."""
    out = []
    names = list(COLOURS)
    for i in range(n):
        colour = names[i % 3]
        choices = [c.title() + "." for c in names]
        base = dict(sample_id=f"q{i}", dataset="toy", split="train", video_id=colour, video=colour,
                    question="Which colour fills the video?", choices=choices, answer=choices[i % 3])
        out.append(TrainRecord(record_id=f"q{i}:answer", kind="answer", prompt=answer_prompt(base["question"], choices),
                               target="ABC"[i % 3], **base))
        if i % 3 == 0:
            out.append(TrainRecord(record_id=f"q{i}:rationale", kind="rationale", target=f"Every frame is {colour}.",
                                   prompt=rationale_prompt(base["question"], choices), **base))
    return out


def _frames(r: TrainRecord) -> np.ndarray:
    if r.video not in COLOURS:
        raise FileNotFoundError(f"{r.video}: no such video")
    return np.broadcast_to(np.array(COLOURS[r.video], dtype=np.uint8), (32, 8, 8, 3)).copy()


def _weights(student: ToyStudent) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in student.model.state_dict().items()}


def test_training_lowers_both_losses_and_writes_its_outputs(tmp_path: Path) -> None:
    student = ToyStudent()
    examples = prepare(student, _records(), _frames, progress=False)
    assert {e.segments[-1] for e in examples} == {ANSWER, RATIONALE}
    result = train(student, examples, tmp_path, TrainConfig(epochs=7, batch_size=8, lr=2e-2, warmup_steps=2), progress=False)
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert result["finished"] and len(history) == result["steps"] == 7 * 6  # 48 samples, 8 a batch
    assert all(h["grad_norm"] > 0 for h in history) and "grad_label" in history[0] and "grad_rationale" in history[0]
    first, last = history[:4], history[-4:]
    assert np.mean([h["label"] for h in last]) < 0.5 * np.mean([h["label"] for h in first])
    assert np.mean([h["loss"] for h in last]) < np.mean([h["loss"] for h in first])
    assert (tmp_path / "loss.png").stat().st_size > 5000 and (tmp_path / "model" / "toy.pt").is_file()
    answers = [r for r in _records() if r.kind == "answer"][:3]  # red, green, blue: options A, B, C
    assert [student.generate(_frames(r), r.prompt, 4) for r in answers] == ["A", "B", "C"]


@pytest.mark.parametrize("grad_accum", [1, 3])
def test_a_stopped_run_resumes_to_the_uninterrupted_weights(tmp_path: Path, grad_accum: int) -> None:
    cfg = TrainConfig(epochs=2, batch_size=8, checkpoint_every=3, seed=7, grad_accum=grad_accum)
    clean = ToyStudent()
    train(clean, prepare(clean, _records(), _frames, progress=False), tmp_path / "clean", cfg, progress=False)
    stopped = ToyStudent()
    examples = prepare(stopped, _records(), _frames, progress=False)
    stop_at = 5 if grad_accum == 1 else 2
    partial = train(stopped, examples, tmp_path / "resumed", cfg.model_copy(update={"max_steps": stop_at}),
                    progress=False)
    assert partial["steps"] == stop_at and not partial["finished"] and not (tmp_path / "resumed" / "model").exists()
    resumed = ToyStudent(seed=123)  # a fresh process: other initial weights, restored from the checkpoint
    train(resumed, prepare(resumed, _records(), _frames, progress=False), tmp_path / "resumed", cfg, progress=False)
    a, b = _weights(clean), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "clean" / "history.jsonl").read_text() == (tmp_path / "resumed" / "history.jsonl").read_text()


def test_bad_records_are_all_reported_before_training() -> None:
    records = _records(6)
    records[0] = records[0].model_copy(update={"video": "purple"})
    records[3] = records[3].model_copy(update={"target": "x" * 500})
    with pytest.raises(DataError, match=r"2 training record\(s\) cannot be used: q0:answer \(purple\).*more than 400"):
        prepare(ToyStudent(), records, _frames, progress=False)
    with pytest.raises(DataError, match="no records"):
        prepare(ToyStudent(), [], _frames, progress=False)


def _ddp_rank(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    student = ToyStudent()
    before = _weights(student)
    result = train(student, prepare(student, _records(), _frames, progress=False), Path(out) / "run",
                   TrainConfig(epochs=1, batch_size=8, max_steps=2), progress=False)
    after = _weights(student)
    changed = any(not torch.equal(before[k], after[k]) for k in before)
    torch.save({"weights": after, "changed": changed, "result": result}, Path(out) / f"rank{rank}.pt")


@pytest.mark.slow
def test_two_cpu_processes_with_ddp_agree_on_the_weights(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_ddp_rank, args=(2, port, str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    # really one DDP run (not two processes each training alone on the same batches)
    assert [r["result"]["processes"] for r in ranks] == [2, 2] and [r["result"]["steps"] for r in ranks] == [2, 2]
    assert all(r["changed"] for r in ranks)
    assert all(torch.equal(ranks[0]["weights"][k], ranks[1]["weights"][k]) for k in ranks[0]["weights"])
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2  # written once, by the main process
    # the schedule advances once per optimizer step, not once per process: 3 of 20 warm-up steps
    assert history[-1]["lr"] == pytest.approx(TrainConfig().lr * 3 / 20)


def test_accelerate_configs_load_with_accelerate_itself() -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    root = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
    kinds = {f.stem: str(load_config_from_file(str(f)).distributed_type) for f in root.glob("*.yaml")}
    assert kinds == {"ddp": "DistributedType.MULTI_GPU", "ddp_cpu": "DistributedType.MULTI_CPU",
                     "fsdp": "DistributedType.FSDP", "deepspeed_zero2": "DistributedType.DEEPSPEED",
                     "deepspeed_zero3": "DistributedType.DEEPSPEED"}


@pytest.mark.parametrize("arch", ["llava-next-video", "qwen2-vl"])
def test_a_transformers_student_trains_saves_and_loads(arch: str, tmp_path: Path, one_thread) -> None:
    from aotd.distill.students import load_student
    from aotd.models.hf import tiny_hf_student

    student = tiny_hf_student(arch)
    examples = prepare(student, _records(6), _frames, progress=False)
    assert not isinstance(examples, list)  # big examples are encoded again per batch, not kept
    result = train(student, examples, tmp_path, TrainConfig(epochs=1, batch_size=4, warmup_steps=1), progress=False)
    assert result["finished"] and result["steps"] == 2
    loaded = load_student(tmp_path / "model")
    batch = student.collate([examples[0]])
    student.model.eval()
    loaded.model.eval()
    with torch.no_grad():
        assert torch.allclose(student.logits(batch), loaded.logits(batch), atol=1e-5)
    assert isinstance(loaded.generate(_frames(_records(1)[0]), _records(1)[0].prompt, 3), str)


def test_epoch_batches_cover_every_example_once_and_group_lengths() -> None:
    from aotd.distill.train import epoch_batches

    lengths = [30 if i % 3 else 300 for i in range(200)]  # answers and rationales, interleaved
    batches = epoch_batches(lengths, 8, seed=5)
    assert sorted(i for b in batches for i in b) == list(range(200)) and len(batches) == 25
    assert batches == epoch_batches(lengths, 8, seed=5) != epoch_batches(lengths, 8, seed=6)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    naive = sum(8 * max(lengths[i] for i in range(k, min(k + 8, 200))) for k in range(0, 200, 8))
    assert padded < 0.6 * naive  # far fewer padded positions than fixed batches of mixed records


def test_a_samples_answer_and_rationale_train_in_the_same_step() -> None:
    """Eq. 3 over the same samples: a batch holds whole samples, so both terms meet in one step."""
    from aotd.distill.train import epoch_batches, sample_groups

    records = _records()
    groups = sample_groups([r.sample_id for r in records])
    assert len(groups) == 48 and sum(len(g) == 2 for g in groups) == 16
    lengths = [len(r.prompt) + len(r.target) for r in records]
    batches = epoch_batches(lengths, 8, seed=3, groups=groups)
    assert sorted(i for b in batches for i in b) == list(range(len(records))) and len(batches) == 6
    for batch in batches:
        ids = {records[i].sample_id for i in batch}
        assert len(ids) == 8 and all(records[j].sample_id not in ids for j in set(range(len(records))) - set(batch))


def test_lambda_zero_trains_the_instruct_student(tmp_path: Path) -> None:
    """With λ = 0 the rationale records change nothing: the same answer batches, the same weights."""
    records = _records()
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-2, seed=4, lam=0.0, term_grad_every=0)
    aotd, instruct = ToyStudent(), ToyStudent()
    train(aotd, prepare(aotd, records, _frames, progress=False), tmp_path / "a", cfg, progress=False)
    answers = [r for r in records if r.kind == "answer"]
    train(instruct, prepare(instruct, answers, _frames, progress=False), tmp_path / "i", cfg, progress=False)
    a, i = _weights(aotd), _weights(instruct)
    assert max(float((a[k] - i[k]).abs().max()) for k in a) < 1e-5


def test_the_papers_schedule_warms_up_a_share_of_steps_and_decays_to_zero(tmp_path: Path) -> None:
    """lr 4e-5 style: warm-up over 3% of the steps (rounded up), cosine to min_lr_ratio (0), bf16 autocast."""
    student = ToyStudent()
    examples = prepare(student, _records(), _frames, progress=False)
    cfg = TrainConfig(epochs=5, batch_size=8, lr=1e-2, warmup_ratio=0.1, min_lr_ratio=0.0, mixed_precision="bf16")
    train(student, examples, tmp_path, cfg, progress=False)
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert len(lrs) == 30
    peak = lrs.index(max(lrs))
    # ceil(0.1 * 30) = 3 warm-up steps; history logs the lr the next step will use
    assert peak == 1 and lrs[peak] == pytest.approx(1e-2) and lrs[0] == pytest.approx(1e-2 * 2 / 3)
    assert all(a < b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))
    assert lrs[-1] < 1e-4  # the cosine ends at min_lr_ratio * lr = 0, not at 10%


def test_gradient_accumulation_steps_once_per_group_of_micro_batches(tmp_path: Path) -> None:
    """batch 4 x 2 micro-batches: half the optimizer steps of batch 4, the epoch's odd batch in a short step."""
    student = ToyStudent()
    examples = prepare(student, _records(), _frames, progress=False)
    batches = math.ceil(len({e.sample_id for e in examples}) / 4)
    cfg = TrainConfig(epochs=3, batch_size=4, grad_accum=2, lr=1e-2, warmup_steps=1)
    result = train(student, examples, tmp_path, cfg, progress=False)
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert result["steps"] == len(history) == 3 * math.ceil(batches / 2)
    assert np.mean([h["loss"] for h in history[-3:]]) < np.mean([h["loss"] for h in history[:3]])
    assert history[-1]["lr"] == pytest.approx(1e-2 * 0.1)  # the cosine ended exactly at the last step


def test_validation_after_each_epoch_keeps_the_best_epochs_weights_and_survives_a_resume(tmp_path: Path) -> None:
    """A scripted validation score peaks at epoch 2 of 4: the saved model is epoch 2's, the curve
    and the choice are recorded, and a run stopped mid-way and resumed chooses the same."""
    cfg = TrainConfig(epochs=4, batch_size=8, lr=2e-2, seed=3, checkpoint_every=2)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def scripted(scores: list[float]):  # noqa: ANN202
        def validate(student: ToyStudent) -> float:
            assert not student.model.training  # scored in eval mode
            k = len(snapshots) + 1
            snapshots[k] = _weights(student)
            return scores[k - 1]
        return validate

    student = ToyStudent()
    result = train(student, prepare(student, _records(), _frames, progress=False), tmp_path / "a", cfg,
                   progress=False, validate=scripted([0.3, 0.7, 0.5, 0.7]))
    assert result["selected_epoch"] == 2 and [v["epoch"] for v in result["val_curve"]] == [1, 2, 3, 4]
    assert json.loads((tmp_path / "a" / "val.json").read_text())["selected_epoch"] == 2
    saved = torch.load(tmp_path / "a" / "model" / "toy.pt", weights_only=True)
    assert all(torch.equal(saved[k], snapshots[2][k]) for k in saved)
    assert all(torch.equal(v, snapshots[2][k]) for k, v in student.model.state_dict().items())

    snapshots.clear()
    stopped = ToyStudent()
    examples = prepare(stopped, _records(), _frames, progress=False)
    train(stopped, examples, tmp_path / "b", cfg.model_copy(update={"max_steps": 14}), progress=False,
          validate=scripted([0.3, 0.7, 0.5, 0.7]))
    done = len(snapshots)
    assert done == 2  # 6 steps an epoch: two epochs scored before the stop
    again = ToyStudent(seed=9)
    resumed = train(again, prepare(again, _records(), _frames, progress=False), tmp_path / "b", cfg, progress=False,
                    validate=scripted([0.3, 0.7, 0.5, 0.7]))
    assert len(snapshots) == 4 and resumed["selected_epoch"] == 2  # epochs 1-2 were not scored again
    b = torch.load(tmp_path / "b" / "model" / "toy.pt", weights_only=True)
    assert all(torch.equal(saved[k], b[k]) for k in saved)
