"""The embedded student: its tokenizer writes the world's texts exactly, it encodes and batches
records as the trainer expects, saves and loads, and it learns to answer from a small world."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from aotd.cot.convert import RuleConverter
from aotd.data.loaders import load_dataset
from aotd.data.records import TraceRecord, read_records
from aotd.data.schema import QASample
from aotd.data.video import sample_video
from aotd.distill.loss import dual_loss
from aotd.distill.students import load_student
from aotd.embedded.student.model import EmbeddedStudent, EmbeddedStudentConfig, Part
from aotd.embedded.student.tokenizer import SPECIALS, WorldTokenizer, default_tokens
from aotd.embedded.student.vision import VisionTower
from aotd.embedded.tools.clip_classifier import ClipNet
from aotd.embedded.tools.cnn_detector import CenterNet
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.vocab import DETECTABLE
from aotd.models.options import LETTERS, RATIONALE_SUFFIX, answer_prompt, answer_target, rationale_prompt
from aotd.models.student import ANSWER, IGNORE, RATIONALE

TINY = EmbeddedStudentConfig(d_model=64, heads=2, layers=2, mlp=128, tokens_per_frame=1, max_length=320)
PROMPT = answer_prompt("What did the person do with the dish?", ["Took.", "Held.", "Opened.", "Put down."])


def _tiny() -> EmbeddedStudent:
    """A tiny student over a randomly initialised tower (the pretrained one is for learning)."""
    torch.manual_seed(0)
    return EmbeddedStudent(VisionTower(CenterNet(len(DETECTABLE)), ClipNet()), TINY)


def _frames(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (32, 192, 256, 3), dtype=np.uint8)


def _world_texts(world_dir: Path, world_traces: Path) -> list[str]:
    """Every prompt and target the distillation step writes for the session world, and its CoTs."""
    texts = []
    for s in load_dataset("star", world_dir).samples:
        texts += [answer_prompt(s.question, s.choice_texts), rationale_prompt(s.question, s.choice_texts),
                  answer_target(s.answer, s.choice_texts), s.answer]
    for split in ("train", "val", "test"):  # open-ended questions: prompt and answer text
        for line in (world_dir / "annotations" / f"OE_{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            texts += [answer_prompt(row["question"], []), row["answer"]]
    conversions = [RuleConverter().convert(t) for t in read_records(world_traces, TraceRecord)]
    rationales = [c.rationale for c in conversions if c.rationale]
    assert len(rationales) >= 40
    return texts + rationales


# -- tokenizer ------------------------------------------------------------------------------
def test_tokenizer_writes_every_world_text_exactly_and_compactly(world_dir: Path, world_traces: Path) -> None:
    tok = WorldTokenizer.build()
    texts = _world_texts(world_dir, world_traces)
    chars = tokens = 0
    for text in texts:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        chars, tokens = chars + len(text), tokens + len(ids)
    assert chars / tokens > 3.5  # words, numbers and frame ids are single tokens, not characters
    longest = max(len(tok.encode(t)) for t in texts)
    assert longest + 70 < EmbeddedStudentConfig().max_length  # a prompt and the longest CoT fit


def test_tokenizer_numbers_fallback_and_bad_characters() -> None:
    tok = WorldTokenizer.build()
    for n in (0, 31, 213, 256):
        assert len(tok.encode(f" {n}")) == 1
    for text in ("at [213, 121, 232, 127] in frame 0", "frames 0 to 18 and 22 to 31", "x=1024, the Zebra-crossing!?",
                 "  two  spaces\n\ttab", "cup/glass/bottle", "option's", "", "007"):
        assert tok.decode(tok.encode(text)) == text
    with pytest.raises(ValueError, match="'é'"):
        tok.encode("the café")
    with pytest.raises(ValueError, match="U\\+2192"):
        _tiny().encode(_frames(), PROMPT, "First → then.", RATIONALE)


def test_tokenizer_vocabulary_is_built_from_code_and_saved(tmp_path: Path) -> None:
    assert default_tokens() == default_tokens()
    tok = WorldTokenizer.build()
    assert tok.tokens[: len(SPECIALS)] == list(SPECIALS)
    assert all(w in tok.ids for w in ("took", " Took", " cup", "glass", " refrigerator", " recognise", " 255"))
    tok.save(tmp_path / "tok.json")
    assert WorldTokenizer.load(tmp_path / "tok.json").tokens == tok.tokens
    (tmp_path / "bad.json").write_text('{"format": "other", "tokens": []}')
    with pytest.raises(ValueError, match="not a"):
        WorldTokenizer.load(tmp_path / "bad.json")


# -- encode, collate, logits ------------------------------------------------------------------
def test_encode_marks_prompt_ignored_and_target_with_its_segment() -> None:
    student = _tiny()
    tok = student.tokenizer
    for target, segment in (("B", ANSWER), ("First, I look for the dish. So the answer is: Took.", RATIONALE)):
        ex = student.encode(_frames(), PROMPT, target, segment)
        n_prompt = len(tok.encode(PROMPT)) + 2  # <bos> prompt <sep>
        assert ex.input_ids[0] == tok.bos_id and ex.input_ids[n_prompt - 1] == tok.sep_id
        assert ex.input_ids[-1] == tok.eos_id
        assert ex.segments == [IGNORE] * n_prompt + [segment] * (len(ex.input_ids) - n_prompt)
        assert tok.decode(ex.input_ids[n_prompt:]) == target
        assert tuple(ex.visual["features"].shape) == (32, student.tower.dim)
        assert ex.visual["features"].dtype == torch.float32
    marks = student.encode(_frames(), PROMPT, "B", ANSWER).visual["options"].tolist()
    assert sorted(set(marks)) == [0, 1, 2, 3, 4, len(LETTERS) + 1]  # four option lines and the question


def test_encode_rejects_what_it_cannot_take() -> None:
    student = _tiny()
    with pytest.raises(ValueError, match="max_length 320"):
        student.encode(_frames(), PROMPT, "frame 1, " * 200, RATIONALE)
    with pytest.raises(ValueError, match="uint8 frames"):
        student.encode(_frames()[:16], PROMPT, "A", ANSWER)
    with pytest.raises(ValueError, match="segment"):
        student.encode(_frames(), PROMPT, "A", IGNORE)


def test_collate_pads_and_logits_align_with_the_ids() -> None:
    student = _tiny()
    examples = [student.encode(_frames(0), PROMPT, "A", ANSWER),
                student.encode(_frames(1), PROMPT.replace("dish", "cup"), "It is the cup. So the answer is: Held.", RATIONALE)]
    batch = student.collate(examples)
    t = max(len(e.input_ids) for e in examples)
    assert batch["input_ids"].shape == batch["segments"].shape == (2, t)
    assert batch["input_ids"][0, len(examples[0].input_ids):].eq(student.tokenizer.pad_id).all()
    assert batch["segments"][0, len(examples[0].input_ids):].eq(IGNORE).all()
    logits = student.logits(batch)
    assert logits.shape == (2, t, len(student.tokenizer))
    loss = dual_loss(logits, batch["input_ids"], batch["segments"], lam=1.0)
    assert torch.isfinite(loss.total) and loss.label_tokens == 2 and loss.rationale_tokens > 5
    loss.total.backward()
    assert all(p.grad is not None for p in student.model.parameters() if p.requires_grad)


def test_pointer_head_changes_only_the_logits_at_sep() -> None:
    student = _tiny()
    student.model.eval()
    batch = student.collate([student.encode(_frames(), PROMPT, "A", ANSWER)])
    with torch.no_grad():
        before = student.logits(batch)
        gen = torch.Generator().manual_seed(0)  # random, not constant: LayerNormed features sum to 0
        for head in (student.model.pointer, student.model.match_o):
            head.weight.add_(torch.randn(head.weight.shape, generator=gen))
        after = student.logits(batch)
    at_sep = batch["input_ids"][0] == student.tokenizer.sep_id
    assert torch.equal(before[0, ~at_sep], after[0, ~at_sep])
    letters = [student.tokenizer.token_id(x) for x in "ABCD"]
    assert not torch.allclose(before[0, at_sep][:, letters], after[0, at_sep][:, letters])


def test_save_load_gives_identical_logits_and_generations(tmp_path: Path) -> None:
    student = _tiny()
    batch = student.collate([student.encode(_frames(), PROMPT, "C", ANSWER)])
    student.save(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"config.json", "tokenizer.json", "model.pt", "tower.pt",
                                                               "aotd_student.json"}
    loaded = load_student(tmp_path / "model")
    assert isinstance(loaded, EmbeddedStudent)
    assert loaded.tower.fingerprint() == student.tower.fingerprint()
    assert loaded.config == student.config
    student.model.eval()
    loaded.model.eval()
    with torch.no_grad():
        assert torch.equal(student.logits(batch), loaded.logits(batch))
    assert loaded.generate(_frames(), PROMPT, max_new_tokens=12) == student.generate(_frames(), PROMPT, max_new_tokens=12)


def test_generate_is_greedy_and_bounded() -> None:
    student = _tiny()
    student.model.train()
    text = student.generate(_frames(), PROMPT, max_new_tokens=7)
    assert student.model.training  # restored
    longest = max(len(t) for t in student.tokenizer.tokens)
    assert len(text) <= 7 * longest and text == student.generate(_frames(), PROMPT, max_new_tokens=7)
    assert text.startswith(student.generate(_frames(), PROMPT, max_new_tokens=3))  # greedy: a shorter run is a prefix


def test_a_batch_generates_what_each_prompt_generates_alone() -> None:
    """Padded rows of different lengths, answer and rationale prompts, a row that stops at end of
    text and one whose budget ``max_length`` cuts: each reply is the one-by-one reply."""
    student = _tiny()
    prompts = [PROMPT, rationale_prompt("Which object was held by the person?", ["The dish.", "The cup."]),
               answer_prompt("What did the person do?", ["Took.", "Held."]), PROMPT + " and" * 264]
    items = [(_frames(i), p) for i, p in enumerate(prompts)]
    alone = [student.generate(f, p, max_new_tokens=9) for f, p in items]
    assert student.generate_batch(items, max_new_tokens=9) == alone
    assert 0 < student.max_length - len(student._prompt_ids(prompts[3])[0]) < 9  # max_length cuts the last reply
    # the first token one row writes becomes end-of-text: that row stops at once, the others go on
    student.model.eval()

    def first_token(frames: np.ndarray, prompt: str) -> int:
        head, marks = student._prompt_ids(prompt)
        with torch.no_grad():
            logits, _ = student.model._run(student.prepare_frames(frames)[None], torch.tensor([head]),
                                           torch.tensor([marks]), torch.tensor([not prompt.endswith(RATIONALE_SUFFIX)]))
        return int(logits[0, -1].argmax())

    firsts = [first_token(f, p) for f, p in items]
    stop = next(t for t in firsts if firsts.count(t) < len(firsts))
    student.tokenizer.eos_id = stop
    alone = [student.generate(f, p, max_new_tokens=9) for f, p in items]
    assert "" in alone and any(alone)
    assert student.generate_batch(items, max_new_tokens=9) == alone
    assert student.generate_batch([], max_new_tokens=9) == []


def test_cached_decoding_steps_match_a_full_forward_pass() -> None:
    student = _tiny()
    student.model.eval()
    batch = student.collate([student.encode(_frames(), PROMPT, "First, I look for the dish.", RATIONALE)])
    ids, marks = batch["input_ids"], batch["options"]
    n_prompt = int((ids[0] == student.tokenizer.sep_id).nonzero()) + 1
    with torch.no_grad():
        full = student.logits(batch)[0]
        first, cache = student.model._run(batch["features"], ids[:, :n_prompt], marks[:, :n_prompt], batch["answer_rows"])
        stepped = [first[0, -1]]
        for pos in range(n_prompt, ids.shape[1] - 1):
            stepped.append(student.model.step(ids[:, pos : pos + 1], pos, cache)[0, -1])
    assert torch.allclose(torch.stack(stepped), full[n_prompt - 1 : -1], atol=1e-4)


def test_rows_of_one_sample_share_its_prefix_and_get_the_logits_they_get_alone() -> None:
    """A step's answer and rationale rows of a sample read its visual prefix once; each row's
    logits are those of a batch of its own. Equal sample ids with other frames do not share."""
    student = _tiny()
    student.model.eval()
    rationale = rationale_prompt("What did the person do with the dish?", ["Took.", "Held.", "Opened.", "Put down."])
    examples = []
    for n, (sid, seed) in enumerate((("s1", 0), ("s2", 1), ("s1", 2))):  # the third reuses s1's id, not its frames
        for prompt, target, segment in ((PROMPT, "B", ANSWER), (rationale, "First, I look for the dish." * (n + 1),
                                                                  RATIONALE)):
            example = student.encode(_frames(seed), prompt, target, segment)
            example.sample_id = sid
            examples.append(example)
    answers, rationales = examples[0::2], examples[1::2]
    batches = [student.collate(answers), student.collate(rationales)]
    seen = []
    hook = student.model.frames.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[0]))
    with torch.no_grad():
        shared = student.logits_shared(batches)
        alone = [[student.logits(student.collate([e]))[0] for e in part] for part in (answers, rationales)]
    hook.remove()
    assert seen[0] == 3  # three distinct (sample, frames) for six rows
    for out, singles in zip(shared, alone):
        for row, single in enumerate(singles):
            n = len(single)
            assert torch.allclose(out[row, :n], single, atol=1e-4)


def test_the_option_pointer_adds_to_answer_rows_only() -> None:
    """A rationale row's <sep> writes its first word from the plain LM: no letter is pushed there."""
    student = _tiny()
    student.model.eval()
    with torch.no_grad():
        student.model.pointer.weight.fill_(5.0)  # a loud pointer, so that any leak shows
        student.model.gate.bias.fill_(10.0)
        batch = student.collate([student.encode(_frames(), PROMPT, "A", ANSWER),
                                 student.encode(_frames(), PROMPT, "First, I look for the dish.", RATIONALE)])
        assert batch["answer_rows"].tolist() == [True, False]
        logits = student.logits(batch)
        plain = student.model(batch["features"], [Part(batch["input_ids"], batch["options"], torch.tensor([False, False]))])[0]
    sep = [int((row == student.tokenizer.sep_id).nonzero()) for row in batch["input_ids"]]
    assert torch.allclose(logits[1, sep[1]], plain[1, sep[1]])  # rationale row: no bonus
    assert not torch.allclose(logits[0, sep[0]], plain[0, sep[0]])  # answer row: pointed


# -- learning ---------------------------------------------------------------------------------
EPOCHS, BATCH, LR, SEED = 6, 16, 2e-3, 0


@pytest.fixture(scope="module")
def train_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 120-video world to train on (~960 questions); the session world is held out whole."""
    out = tmp_path_factory.mktemp("train-world")
    generate_world(WorldConfig(out=out, videos=120, seed=3, workers=2), progress=False)
    return out


def _features(student: EmbeddedStudent, s: QASample) -> torch.Tensor:
    """The sample's 32 frames through the tower, once for all epochs."""
    return student.prepare_frames(sample_video(s.video.path, start_s=s.start, end_s=s.end).frames)


def _accuracy(student: EmbeddedStudent, data: list[tuple[QASample, torch.Tensor]], *, blank: bool = False) -> float:
    """Held-out accuracy from the option letters' logits at <sep>, summed over the four cyclic
    orders of the options so that a leftover preference for a letter cannot decide."""
    letters = [student.tokenizer.token_id(x) for x in LETTERS[:4]]
    empty = student.prepare_frames(np.zeros((32, 192, 256, 3), dtype=np.uint8))  # a blank video's features
    student.model.eval()
    correct = 0
    with torch.no_grad():
        for s, frames in data:
            choices, score = s.choice_texts, np.zeros(4)
            orders = [choices[k:] + choices[:k] for k in range(4)]
            examples = [student.encode(empty if blank else frames, answer_prompt(s.question, o), "", ANSWER)
                        for o in orders]
            logits = student.logits(student.collate(examples))
            for j, order in enumerate(orders):
                logp = torch.log_softmax(logits[j, len(examples[j].input_ids) - 2, letters], 0)
                for k, choice in enumerate(order):
                    score[choices.index(choice)] += float(logp[k])
            correct += choices[int(score.argmax())] == s.answer
    student.model.train()
    return correct / len(data)


@pytest.mark.slow
def test_it_learns_to_answer_from_pixels_and_text(train_world: Path, world_dir: Path) -> None:
    """Answer records of a 120-video world, options shuffled every epoch (so the letter alone says
    nothing); on every question of another world (~470) it must clearly beat chance and its own
    score with the frames blanked.

    The world does not leak answers through text (a text-only model: ~24%), so all a student
    can learn is in the pixels. With the detector alone as its tower this student reached 28.7%
    (25.7% blanked); with the recognizer in the tower and the grounding head it learns what the
    agent's tools see (the demo's students: ~74% on val).
    """
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    student = EmbeddedStudent(VisionTower.pretrained(), EmbeddedStudentConfig(seed=SEED))
    train = [(s, _features(student, s)) for s in load_dataset("star", train_world).samples if len(s.choice_texts) == 4]
    held_out = [(s, _features(student, s)) for s in load_dataset("star", world_dir).samples if len(s.choice_texts) == 4]
    assert len(train) >= 800 and len(held_out) >= 300
    params = [p for p in student.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
    steps = EPOCHS * -(-len(train) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=steps, pct_start=0.1)
    student.model.train()
    for _ in range(EPOCHS):
        rng.shuffle(train)
        for i in range(0, len(train), BATCH):
            examples = []
            for s, frames in train[i : i + BATCH]:
                choices = rng.sample(s.choice_texts, len(s.choice_texts))
                examples.append(student.encode(frames, answer_prompt(s.question, choices),
                                               answer_target(s.answer, choices), ANSWER))
            batch = student.collate(examples)
            loss = dual_loss(student.logits(batch), batch["input_ids"], batch["segments"])
            optimizer.zero_grad()
            loss.total.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
    accuracy, blind = _accuracy(student, held_out), _accuracy(student, held_out, blank=True)
    print(f"held-out accuracy {accuracy:.3f}, frames blanked {blind:.3f} ({len(held_out)} questions)")
    assert accuracy > 0.4 and accuracy > blind + 0.1  # chance is 0.25
    for s, frames in held_out[:8]:  # greedy generation writes a letter
        assert student.generate(frames, answer_prompt(s.question, s.choice_texts), max_new_tokens=4) in LETTERS[:4]


@pytest.mark.slow
def test_it_learns_to_write_grounded_rationales(world_dir: Path, world_traces: Path) -> None:
    """Rationale records of four traces, trained to memorisation: the student then writes, from
    the frames and the rationale prompt, the frame windows and boxes its CoT carried."""
    samples = {s.sample_id: s for s in load_dataset("star", world_dir).samples}
    cots = [(t, RuleConverter().convert(t).rationale) for t in read_records(world_traces, TraceRecord)]
    picked = [(samples[t.sample_id], r) for t, r in cots if r and "[" in r and "from frame" in r][:4]
    assert len(picked) == 4
    torch.manual_seed(SEED)
    student = EmbeddedStudent(VisionTower.pretrained(), EmbeddedStudentConfig(seed=SEED, dropout=0.0))
    examples = [student.encode(_features(student, s), rationale_prompt(s.question, s.choice_texts), r, RATIONALE)
                for s, r in picked]
    optimizer = torch.optim.AdamW([p for p in student.model.parameters() if p.requires_grad], lr=2e-3)
    batch = student.collate(examples)
    for _ in range(150):
        loss = dual_loss(student.logits(batch), batch["input_ids"], batch["segments"])
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
    assert loss.rationale.item() < 0.1
    s, target = picked[0]
    text = student.generate(_features(student, s), rationale_prompt(s.question, s.choice_texts), max_new_tokens=400)
    assert text == target  # frame windows ("from frame 12 to frame 18") and boxes ("[x1, y1, x2, y2] in frame 14")


# -- features computed once per video ---------------------------------------------------------
def test_video_features_are_the_per_question_features_sliced_and_kept_on_disk(world_dir: Path, tmp_path: Path) -> None:
    from aotd.embedded.student.vision import VideoFeatures

    student = _tiny()
    samples = load_dataset("star", world_dir).by_split("train")[:6]
    store = VideoFeatures(student.tower, tmp_path)
    for s in samples:
        assert torch.equal(store.features(s.video.path, s.start, s.end), _features(student, s))
    files = list(tmp_path.rglob("*.npy"))
    # the detector's part once per video, the recognizer's once per question
    assert len(files) == len({s.video.video_id for s in samples}) + len({(s.video.path, s.start, s.end) for s in samples})
    again = VideoFeatures(student.tower, tmp_path)  # another process: both parts read back, nothing recomputed
    real = student.tower.frame_features, student.tower.action_features
    student.tower.frame_features = student.tower.action_features = None  # type: ignore[assignment,method-assign]
    try:
        s = samples[0]
        expected = store.features(s.video.path, s.start, s.end)
        assert torch.equal(again.features(s.video.path, s.start, s.end), expected)
    finally:
        student.tower.frame_features, student.tower.action_features = real  # type: ignore[method-assign]
