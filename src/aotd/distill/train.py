"""The step-4 trainer: L = L_label + λ·L_rationale over any ``Student``.

Everything that can be wrong with the data is found before the first step: every record is
encoded up front (missing video, undecodable video, a prompt longer than the student takes, a
CoT the tokenizer cannot write), and the failures are reported together. Training is seeded and
resumable: a checkpoint (weights, optimizer, schedule, data position, RNG states, loss history)
is written atomically every ``checkpoint_every`` steps, and a run started again in the same
``out`` continues from it along the same data order, ending with the weights an uninterrupted
run ends with.

Scale-out goes through ``accelerate``: under ``accelerate launch`` (configs/accelerate/) the
model and optimizer are prepared for DDP, FSDP or DeepSpeed; each process takes its own batch of
every global step (same seeded order everywhere) and only the main process writes files. A
student's ``logits`` must call ``self.model(...)`` so that the prepared wrapper is used.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from aotd.config import TrainConfig
from aotd.data.records import TrainRecord
from aotd.data.video import FrameCache, sample_video
from aotd.distill.loss import DualLoss, dual_loss
from aotd.errors import AotdError, DataError
from aotd.models.student import ANSWER, RATIONALE, Example, Student

FrameLoader = Callable[[TrainRecord], np.ndarray]


def video_frames(cache: FrameCache | None = None) -> FrameLoader:
    """The record's 32 sampled frames, decoded by seeking (one decode per video window)."""
    cache = cache or FrameCache(max_bytes=512 * 2**20)

    def load(r: TrainRecord) -> np.ndarray:
        return sample_video(r.video, start_s=r.start, end_s=r.end, cache=cache).frames

    return load


def video_inputs(student: Student, cache: FrameCache | None = None) -> FrameLoader:
    """What ``student`` reads for a record: a student with a frozen tower that offers
    ``video_features`` (the embedded one) gets its 32 frames' features sliced from the video's,
    computed once per video for every student; any other gets the 32 decoded frames."""
    features = getattr(student, "video_features", None)
    if features is None:
        return video_frames(cache)
    return lambda r: features(r.video, r.start, r.end)


def prepare(student: Student, records: list[TrainRecord], frames: FrameLoader, *,
            progress: bool = True, keep: bool | None = None) -> Sequence[Example]:
    """Encode every record now, so bad data stops the run before training, all of it at once.

    Examples are kept in memory when the student's are small (``student.keep_examples``, the
    default); a transformers student's 32 preprocessed frames are megabytes each, so its
    examples are encoded again when their batch comes (frames come from the frame cache).
    """
    if not records:
        raise DataError("the training file has no records")
    keep = getattr(student, "keep_examples", True) if keep is None else keep
    examples, problems = [], []
    for r in tqdm(records, desc="encode", unit="rec", disable=not progress):
        try:
            example = _encode(student, r, frames)
            examples.append(example if keep else None)
        except (ValueError, AotdError, OSError) as exc:
            problems.append(f"{r.record_id} ({r.video}): {exc}")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DataError(f"{len(problems)} training record(s) cannot be used: " + "; ".join(problems[:5]) + more)
    return examples if keep else _Reencoded(student, records, frames)  # type: ignore[return-value]


def _encode(student: Student, r: TrainRecord, frames: FrameLoader) -> Example:
    example = student.encode(frames(r), r.prompt, r.target, ANSWER if r.kind == "answer" else RATIONALE)
    example.sample_id = r.sample_id
    return example


class _Reencoded(Sequence[Example]):
    """Examples encoded on demand (already validated by ``prepare``)."""

    def __init__(self, student: Student, records: list[TrainRecord], frames: FrameLoader) -> None:
        self.student, self.records, self.frames = student, records, frames

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Example:  # type: ignore[override]
        return _encode(self.student, self.records[i], self.frames)


@dataclass
class _State:
    step: int = 0
    epoch: int = 0
    position: int = 0  # batches done in this epoch
    history: list[dict[str, float]] | None = None
    val: list[dict[str, float]] = field(default_factory=list)  # the validation score after each epoch


def train(student: Student, examples: Sequence[Example], out: Path, cfg: TrainConfig, *,
          progress: bool = True, validate: Callable[[Student], float] | None = None) -> dict[str, Any]:
    """Train ``student`` on ``examples``; write ``out/model``, ``history.jsonl`` and ``loss.png``.

    With ``validate`` (a score on held-out data, higher is better) the student is scored after
    every epoch and ``out/model`` holds the weights of the best epoch (the earliest of equals):
    training length chosen on validation data, the same rule for every variant; the curve and
    the chosen epoch are in the result and ``val.json``.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedType

    AcceleratorState._reset_state()  # a process-wide singleton: a second run may ask for another precision
    # on a machine without an accelerator, accelerate runs torchrun/spawned processes as DDP over gloo
    # only when told it is on the CPU; otherwise each process would silently train alone
    accelerator = Accelerator(cpu=not _has_accelerator(),
                              **({"mixed_precision": cfg.mixed_precision} if cfg.mixed_precision else {}))
    if cfg.grad_accum > 1 and accelerator.distributed_type == DistributedType.DEEPSPEED:
        raise AotdError("distill.train.grad_accum > 1 does not work under DeepSpeed, which steps inside backward; "
                        "launch with configs/accelerate/fsdp.yaml or ddp.yaml, or raise batch_size instead")
    main = accelerator.is_main_process
    world, rank = accelerator.num_processes, accelerator.process_index
    out.mkdir(parents=True, exist_ok=True)
    _seed(cfg.seed)
    params = [p for p in student.model.parameters() if p.requires_grad]
    if not params:
        raise AotdError(f"student {student.name} has no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    lengths, answers, sample_ids = _layout(examples)
    groups = sample_groups(sample_ids, answers)
    batches_per_epoch = math.ceil(len(groups) / cfg.batch_size)
    per_epoch = batches_per_epoch if world == 1 else batches_per_epoch // world  # every process needs a batch
    if per_epoch == 0:
        raise AotdError(f"{len(examples)} examples make fewer batches than the {world} processes")
    total = math.ceil(per_epoch / cfg.grad_accum) * cfg.epochs  # optimizer steps; an epoch's last may be short
    warmup = cfg.warmup_steps if cfg.warmup_ratio is None else math.ceil(cfg.warmup_ratio * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, warmup, total, cfg.min_lr_ratio))
    state = _State(history=[])
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        state = _load_checkpoint(ckpt, student, optimizer, schedule)
    assert state.history is not None
    module = student.model
    # the schedule stays ours: accelerate's wrapper steps it once per process, for schedules written
    # in single-process steps, and ``total`` already counts this process's steps
    student.model, optimizer = accelerator.prepare(module, optimizer)
    student.model.train()
    bar = tqdm(total=total, initial=state.step, desc="train", unit="step", disable=not (progress and main))
    started, tokens = time.perf_counter(), 0
    stop = False
    while state.epoch < cfg.epochs and not stop:
        batches = epoch_batches(lengths, cfg.batch_size, cfg.seed * 1000 + state.epoch, groups=groups)
        while state.position < per_epoch:
            micro = min(cfg.grad_accum, per_epoch - state.position)
            optimizer.zero_grad(set_to_none=True)
            sums = {"loss": 0.0, "label": 0.0, "rationale": 0.0}
            norms: dict[str, float] = {}
            for j in range(micro):
                rows = batches[(state.position + j) * world + rank]
                # gradients are averaged across processes once, after the step's last micro-batch
                with contextlib.nullcontext() if j == micro - 1 else accelerator.no_sync(student.model):
                    loss = _step_loss(student, examples, rows, answers, cfg.lam, accelerator.device)
                    if j == 0 and world == 1 and cfg.term_grad_every and state.step % cfg.term_grad_every == 0:
                        norms = _term_grad_norms(loss, params, cfg.lam)
                    accelerator.backward(loss.total / micro)
                tokens += loss.label_tokens + loss.rationale_tokens
                for key, value in (("loss", loss.total), ("label", loss.label), ("rationale", loss.rationale)):
                    sums[key] += value.item() / micro
            grad_norm = accelerator.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip else float("inf"))
            optimizer.step()
            schedule.step()
            state.step += 1
            state.position += micro
            state.history.append({"step": state.step, "epoch": state.epoch,
                                  **{k: round(v, 5) for k, v in sums.items()}, "lr": schedule.get_last_lr()[0],
                                  "grad_norm": round(float(grad_norm), 5), **norms})
            bar.update()
            bar.set_postfix(loss=f"{sums['loss']:.3f}")
            if state.step % cfg.checkpoint_every == 0 and main:
                _save_checkpoint(ckpt, accelerator.get_state_dict(student.model), optimizer, schedule, state)
            if cfg.max_steps is not None and state.step >= cfg.max_steps:
                stop = True
                break
        else:
            state.epoch, state.position = state.epoch + 1, 0
            if validate is not None:
                _validate(student, validate, state, out / "best.pt", main)
                if main:  # the score is kept with the step's state, so a resumed run does not score again
                    _save_checkpoint(ckpt, accelerator.get_state_dict(student.model), optimizer, schedule, state)
    bar.close()
    weights = accelerator.get_state_dict(student.model)
    student.model = accelerator.unwrap_model(student.model)
    elapsed = time.perf_counter() - started
    finished = state.epoch >= cfg.epochs
    if main:
        _save_checkpoint(ckpt, weights, optimizer, schedule, state)
        if finished:
            if state.val:  # the best epoch's weights
                student.model.load_state_dict(torch.load(out / "best.pt", map_location="cpu", weights_only=True))
                (out / "val.json").write_text(json.dumps({"curve": state.val, "selected_epoch": _best(state.val)},
                                                         indent=2) + "\n")
            student.save(out / "model")
        (out / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in state.history))
        plot_history(state.history, out / "loss.png")
    accelerator.wait_for_everyone()
    return {"steps": state.step, "epochs_done": state.epoch, "finished": finished, "processes": world,
            "seconds": round(elapsed, 1),
            "target_tokens_per_s": round(tokens / max(elapsed, 1e-9), 1),
            "final_loss": state.history[-1] if state.history else None,
            **({"val_curve": state.val, "selected_epoch": _best(state.val)} if state.val else {})}


def _validate(student: Student, validate: Callable[[Student], float], state: _State, best: Path, main: bool) -> None:
    """Score the epoch just finished; keep its weights in ``best`` when no earlier epoch scored higher."""
    wrapped = student.model
    model = student.model = getattr(wrapped, "module", wrapped)  # generation calls the model's own methods
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():  # scoring leaves training's RNG where it was
            score = float(validate(student))
    finally:
        model.train()
        student.model = wrapped
    state.val.append({"epoch": state.epoch, "score": round(score, 5)})
    if main and _best(state.val) == state.epoch:
        tmp = best.with_suffix(".tmp")
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
        os.replace(tmp, best)


def _best(val: list[dict[str, float]]) -> int:
    """The epoch with the highest score, the earliest of equals."""
    return int(max(val, key=lambda v: (v["score"], -v["epoch"]))["epoch"])


def _step_loss(student: Student, examples: Sequence[Example], rows: list[int], answers: list[bool], lam: float,
               device: torch.device) -> DualLoss:
    """Eq. 3 over one batch of samples: L_label over its answer records plus λ·L_rationale over
    its rationale records. The two kinds go through the model as two padded sub-batches, so a
    one-letter answer is not padded to a rationale's length; each term is its own token mean.
    A student with ``logits_shared`` takes both in one forward pass."""
    kinds = [(kind, part) for kind, part in (("answer", [i for i in rows if answers[i]]),
                                             ("rationale", [i for i in rows if not answers[i]])) if part]
    batches = [student.collate([examples[i] for i in part]) for _, part in kinds]
    batches = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in b.items()} for b in batches]
    # a student that can reads each sample's video once for its answer and rationale rows
    shared = getattr(student, "logits_shared", None)
    logits = shared(batches) if shared is not None else [student.logits(b) for b in batches]
    terms = {kind: dual_loss(out, b["input_ids"], b["segments"], lam)
             for (kind, _), b, out in zip(kinds, batches, logits)}
    a, r = terms.get("answer"), terms.get("rationale")
    some = a or r
    assert some is not None, "an empty batch"
    zero = some.total * 0.0
    label = a.label if a else zero
    rationale = r.rationale if r else zero
    return DualLoss(total=label + lam * rationale, label=label, rationale=rationale,
                    label_tokens=a.label_tokens if a else 0, rationale_tokens=r.rationale_tokens if r else 0)


def _term_grad_norms(loss: Any, params: list[torch.nn.Parameter], lam: float) -> dict[str, float]:
    """The gradient norm of L_label and of λ·L_rationale on their own, before clipping: whether
    both terms pull, and how hard (the total's norm is logged every step)."""
    out = {}
    for key, term in (("grad_label", loss.label), ("grad_rationale", lam * loss.rationale)):
        if not term.requires_grad or term.detach().item() == 0.0:
            out[key] = 0.0
            continue
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        out[key] = round(float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None))), 5)
    return out


def _has_accelerator() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps is not None and mps.is_available())


def sample_groups(sample_ids: Sequence[str], answers: Sequence[bool] | None = None) -> list[list[int]]:
    """Example indices by sample, in first-seen order, its answer record first: a sample's
    answer and rationale records."""
    groups: dict[str, list[int]] = {}
    for i, sid in enumerate(sample_ids):
        groups.setdefault(sid or f"#{i}", []).append(i)
    if answers is None:
        return list(groups.values())
    return [sorted(g, key=lambda i: not answers[i]) for g in groups.values()]


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, window: int = 32,
                  groups: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
    """One epoch's batches of ``batch_size`` samples each, every sample with all its records.

    Keeping a sample's answer and rationale records in one batch makes each step's loss the
    paper's Eq. 3, L_label + λ·L_rationale over the same samples; batches of one kind only would
    make every step L_label alone or λ·L_rationale alone, where AdamW's normalisation cancels λ.
    Samples are shuffled (seeded), sorted by the length of their first record (the answer, from
    ``sample_groups``) within runs of ``window`` batches (so answer-only samples are not padded to
    a rationale's length, and the order depends on the answer records alone: λ = 0 batches the
    answers as the Instruct run does), and the batches shuffled. Without ``groups`` every example
    is its own sample.
    """
    groups = [[i] for i in range(len(lengths))] if groups is None else groups
    key = [lengths[g[0]] for g in groups]
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(groups), generator=g).tolist()
    span = batch_size * window
    batches = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda k: key[k])
        batches += [[i for k in chunk[j:j + batch_size] for i in groups[k]] for j in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]


def _layout(examples: Sequence[Example]) -> tuple[list[int], list[bool], list[str]]:
    """Per example: its length, whether it is an answer record, and its sample id (batching needs
    all three). Examples encoded on demand are described from their records, without encoding:
    length is then the characters of prompt and target."""
    if isinstance(examples, _Reencoded):
        rs = examples.records
        return [len(r.prompt) + len(r.target) for r in rs], [r.kind == "answer" for r in rs], [r.sample_id for r in rs]
    return ([len(e.input_ids) for e in examples], [ANSWER in e.segments for e in examples],
            [e.sample_id for e in examples])


def _lr_factor(step: int, warmup: int, total: int, floor: float = 0.1) -> float:
    """Linear warm-up, then cosine decay from the peak to ``floor`` of it."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _save_checkpoint(path: Path, weights: dict[str, Any], optimizer: Any, schedule: Any, state: _State) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": weights, "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "step": state.step, "epoch": state.epoch,
                "position": state.position, "history": state.history, "val": state.val,
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}},
               tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, student: Student, optimizer: torch.optim.Optimizer,
                     schedule: torch.optim.lr_scheduler.LRScheduler) -> _State:
    try:
        data = torch.load(path, weights_only=False)  # our own file: optimizer state and RNG states
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same advice
        raise AotdError(f"{path}: cannot resume from this checkpoint ({exc}); delete it to start over") from None
    student.model.load_state_dict(data["model"])
    optimizer.load_state_dict(data["optimizer"])
    schedule.load_state_dict(data["schedule"])
    torch.set_rng_state(data["rng"]["torch"])
    np.random.set_state(data["rng"]["numpy"])
    random.setstate(data["rng"]["python"])
    return _State(step=data["step"], epoch=data["epoch"], position=data["position"], history=data["history"],
                  val=data.get("val", []))


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    """L, L_label and L_rationale per step (a running mean over 20 steps) and, beside them, the
    gradient norms before clipping (the total every step, each term's where measured), as a PNG."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, gx) = plt.subplots(1, 2, figsize=(11, 4))
    panels = ((ax, (("loss", "L (total)"), ("label", "L_label"), ("rationale", "L_rationale")), "cross-entropy"),
              (gx, (("grad_norm", "‖∇L‖"), ("grad_label", "‖∇L_label‖"), ("grad_rationale", "‖∇λ·L_rationale‖")),
               "gradient norm before clipping"))
    for axis, series, ylabel in panels:
        for key, label in series:
            points = [(h["step"], h[key]) for h in history if key in h and (key == "loss" or h[key] > 0)]
            if not points:
                continue
            steps, values = [p[0] for p in points], np.array([p[1] for p in points], dtype=float)
            kernel = min(20 if len(values) > 40 else 1, len(values))
            smooth = np.convolve(values, np.ones(kernel) / kernel, mode="valid")
            axis.plot(steps[kernel - 1:], smooth, label=label)
        axis.set_xlabel("step")
        axis.set_ylabel(ylabel + (" (running mean)" if axis is ax else ""))
        axis.grid(alpha=0.3)
        if axis.get_lines():
            axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
