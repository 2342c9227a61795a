"""The embedded student: a small video-language transformer trained on the CPU.

It exists so that the whole distillation loop (answer and rationale records, the dual loss,
both prompts at inference) runs end to end on the embedded world without downloading a
Video-LLM, and it is built like one: a frozen, separately pretrained vision tower
(``vision.VisionTower``: the CNN detector and the clip recognizer, each trained on another
world) reads the 32 frames; a projector turns each frame's features into a few tokens tagged
with a learned frame-id embedding (rationales quote frame ids), plus one summary token of what
appears and what moves, one token per object class and one per world action; a pre-LN
transformer reads [visual tokens ; text tokens] as a prefix LM: visual tokens see each other,
text tokens see all of them and the text before them. Input and output embeddings are tied.
An answer is a letter whose logit an option-pointer head raises (``VideoLM``), reading the
options' grounding (``Grounding``). Only the projector, the language model and the heads train.

Text layout per example: ``<bos> prompt <sep> target <eos>``; ``<sep>`` predicts the first
target token, so generation starts from ``<bos> prompt <sep>``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aotd.embedded.student.tokenizer import WorldTokenizer
from aotd.embedded.student.vision import PER_CLASS, VideoFeatures, VisionTower
from aotd.embedded.world.vocab import VERBS
from aotd.models.options import LETTERS, RATIONALE_SUFFIX
from aotd.models.student import ANSWER, IGNORE, MARKER, RATIONALE, Example

CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, TOWER_FILE = "config.json", "tokenizer.json", "model.pt", "tower.pt"
QUESTION = len(LETTERS) + 1  # the mark of question tokens; option lines are marked 1 (A) to len(LETTERS)
_OPTION_LINE = re.compile(rf"^([{LETTERS}])\. .*$", re.MULTILINE)  # "B. Held." as ``question_block`` writes it


@dataclass(frozen=True)
class EmbeddedStudentConfig:
    num_frames: int = 32
    tokens_per_frame: int = 2
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    mlp: int = 256
    dropout: float = 0.1  # on the residual stream
    # none on attention weights: on the CPU it draws a mask over every (batch, head, query, key)
    # and made a training step 1.6x slower (modern LMs train without it too)
    attention_dropout: float = 0.0
    max_length: int = 768  # text tokens, <bos> prompt <sep> target <eos>; the longest world CoTs are ~460
    seed: int = 0  # initial weights; construction leaves the global RNG alone

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddedStudentConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown embedded student config keys {unknown}")
        return cls(**data)


class FrameEncoder(nn.Module):
    """The projector: tower features -> a summary token, one token per object class, one per
    world action, and ``tokens_per_frame`` tokens per frame.

    The summary is the detector features max-pooled over time (what appears anywhere) and the
    same for their frame-to-frame changes (what moves). An object token is its class name's
    word embedding (shared with the text side) plus a projection of that class's 32-frame
    track (score and box per frame); an action token is its phrase's word embedding plus a
    projection of the recognizer's 32-frame probability curve for it. An option saying "took
    the cup" meets the cup's track and the taking curve through one attention hop, which is
    what lets a model this small bind words to pixels from a few hundred examples. Frame
    tokens carry the frame id, for rationales that quote frames.
    """

    def __init__(self, cfg: EmbeddedStudentConfig, frame_dim: int, classes: int, per_class: int,
                 actions: int) -> None:
        super().__init__()
        self.k, self.d, self.classes, self.per_class = cfg.tokens_per_frame, cfg.d_model, classes, per_class
        self.frame_dim, self.actions = frame_dim, actions
        feature_dim = frame_dim + actions
        self.inp = nn.LayerNorm(feature_dim)
        self.proj = nn.Sequential(nn.Linear(feature_dim, self.d), nn.GELU(), nn.Linear(self.d, self.k * self.d))
        self.summary = nn.Sequential(nn.Linear(2 * feature_dim, self.d), nn.GELU(), nn.Linear(self.d, self.d),
                                     nn.LayerNorm(self.d))
        self.track = nn.Sequential(nn.Linear(cfg.num_frames * per_class, self.d), nn.GELU(), nn.Linear(self.d, self.d))
        self.curve = nn.Sequential(nn.Linear(cfg.num_frames, self.d), nn.GELU(), nn.Linear(self.d, self.d))
        for head in (self.track[-1], self.curve[-1]):  # start as the words, learn the tracks
            nn.init.normal_(head.weight, std=0.02)
            nn.init.zeros_(head.bias)
        self.norm = nn.LayerNorm(self.d)
        self.frame_pos = nn.Parameter(torch.randn(cfg.num_frames, 1, self.d) * 0.02)
        self.slot = nn.Parameter(torch.randn(self.k, self.d) * 0.02)

    def forward(self, feats: torch.Tensor, class_words: torch.Tensor,
                action_words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, F) tower features, (C, d) class-name and (A, d) action-phrase embeddings ->
        tokens (B, 1 + C + A + N * k, d) (summary, objects, actions, frames) and the summary (B, d)."""
        b, n = feats.shape[:2]
        pad = self.frame_pos.shape[0] - n
        tracks = feats[..., : self.classes * self.per_class].reshape(b, n, self.classes, self.per_class)
        tracks = tracks.permute(0, 2, 1, 3).reshape(b, self.classes, n * self.per_class)
        curves = feats[..., self.frame_dim :].transpose(1, 2)  # (B, A, N)
        if pad > 0:
            tracks, curves = F.pad(tracks, (0, pad * self.per_class)), F.pad(curves, (0, pad))
        objects = class_words.unsqueeze(0) + self.track(tracks)
        actions = action_words.unsqueeze(0) + self.curve(curves)
        x = self.inp(feats)
        appears = x.amax(dim=1)
        moves = (x[:, 1:] - x[:, :-1]).abs().amax(dim=1) if n > 1 else torch.zeros_like(appears)
        video = self.summary(torch.cat([appears, moves], -1))
        tokens = self.norm(self.proj(x).view(b, n, self.k, self.d))
        tokens = (tokens + self.frame_pos[:n] + self.slot).view(b, n * self.k, self.d)
        return torch.cat([video.unsqueeze(1), objects, actions, tokens], 1), video


class Block(nn.Module):
    """Pre-LN attention + MLP; returns its keys/values so generation can cache them."""

    def __init__(self, cfg: EmbeddedStudentConfig) -> None:
        super().__init__()
        self.heads, self.p = cfg.heads, cfg.attention_dropout
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.mlp), nn.GELU(), nn.Linear(cfg.mlp, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None,
                past: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.mlp(self.ln2(x))), (k, v)


Cache = list[tuple[torch.Tensor, torch.Tensor]]


class Prefix(NamedTuple):
    """The visual prefix of S samples, as every text row of theirs reads it."""

    kv: Cache  # per layer, (S, heads, visual tokens, head dim) keys and values
    video: torch.Tensor  # (S, d) the summary token
    frames: torch.Tensor  # (S, N, F) the tower features (the grounding reads their curves)
    phrases: torch.Tensor  # (A, d) action phrase vectors
    names: torch.Tensor  # (C, d) class name vectors


class Part(NamedTuple):
    """Text rows of one padded length: (B, T) ids and option marks, (B,) answer rows, and
    (B,) the sample whose prefix each row reads (None: row b reads sample b)."""

    ids: torch.Tensor
    options: torch.Tensor
    answer_rows: torch.Tensor | None = None
    sample: torch.Tensor | None = None


def _padded(rows: list[list[int]]) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [-1] * (width - len(r)) for r in rows], dtype=torch.long)


def _phrase(verb: str, obj: str) -> str:
    """An action as answers and questions say it: " Took the cup/glass/bottle. took"."""
    past = VERBS[verb].past
    return f" {past[0].upper()}{past[1:]} the {obj}. {past}"


class Grounding(nn.Module):
    """Each option's score from the tower's curves of the actions and objects its words name.

    Binding "took the cup" to the curve of (take, cup) through two attention layers of word
    embeddings learnt from scratch is a circuit a model this small finds only after many
    epochs, if at all (the reason a Video-LLM's text and vision sides are pretrained aligned).
    Here the binding is a lookup: an option's words (with the question's, weighted by a
    learnt share, for "Which object was held?") are compared by cosine with every action
    phrase's word vector; the softmax over actions reads a curve for the option, and the
    question's words read one for the event it names ("after they opened the door"); the
    option's words alone, compared with the class names, read the detector's score curve of
    the object it names ("The door."). What to make of the three curves (the option's peak,
    before or after the question's event, whether the object is there) is learnt by an MLP
    that also reads the question's hidden state. Only answer rows use the scores.
    """

    def __init__(self, cfg: EmbeddedStudentConfig, options: int) -> None:
        super().__init__()
        self.k = options
        self.temperature = nn.Parameter(torch.tensor(10.0))
        self.share = nn.Parameter(torch.tensor(0.5))  # of the question's words in an option's lookup
        self.score = nn.Sequential(nn.Linear(3 * cfg.num_frames + cfg.d_model, cfg.d_model), nn.GELU(),
                                   nn.Linear(cfg.d_model, 1))
        self.n = cfg.num_frames

    def forward(self, words: torch.Tensor, options: torch.Tensor, h: torch.Tensor, phrases: torch.Tensor,
                actions: torch.Tensor, names: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """(B, T, d) input word embeddings, (B, T) option marks and (B, T, d) hidden states;
        (A, d) action phrase vectors and (B, N, A) their probabilities; (C, d) class-name vectors
        and (B, N, C) their detection scores -> (B, K) option scores (0 for absent options)."""
        onehot = F.one_hot(options, self.k + 2)[..., 1:].to(words.dtype)  # (B, T, K + 1)
        count = onehot.sum(1)  # (B, K + 1)
        mean = onehot.transpose(1, 2) @ words / count.clamp(min=1)[..., None]
        opts, question = mean[:, : self.k], mean[:, self.k :]
        state = (onehot[..., self.k :].transpose(1, 2) @ h / count[:, self.k :].clamp(min=1)[..., None]).squeeze(1)

        def look(query: torch.Tensor, keys: torch.Tensor, curves: torch.Tensor) -> torch.Tensor:
            sim = F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).T  # (B, Q, A)
            out = torch.softmax(self.temperature * sim, -1) @ curves.transpose(1, 2)  # (B, Q, N)
            return F.pad(out, (0, self.n - out.shape[-1]))

        mine, event = look(opts + self.share * question, phrases, actions), look(question, phrases, actions)
        x = torch.cat([mine, event.expand_as(mine), look(opts, names, seen),
                       state.unsqueeze(1).expand(-1, self.k, -1)], -1)
        return self.score(x).squeeze(-1) * (count[:, : self.k] > 0).to(words.dtype)


class VideoLM(nn.Module):
    """Frame encoder + prefix-LM decoder with tied embeddings and an option-pointer head.

    The pointer head is why a model this small learns multiple choice in minutes: emitting the
    letter of the right option otherwise needs a two-hop circuit (option text -> its letter ->
    the answer position) that a from-scratch transformer finds only after thousands of steps.
    Here each option line's tokens, which already see the frames and the question, are
    mean-pooled and scored by one vector; at ``<sep>`` (the position that writes the first
    target token) each score is added to the logit of that option's letter, scaled by a gate
    that reads the prompt there (an answer prompt opens it, the rationale prompt learns to close
    it). Elsewhere the logits are the plain LM's, so rationales are generated as before.
    """

    def __init__(self, cfg: EmbeddedStudentConfig, frame_dim: int, vocab_size: int, sep_id: int,
                 letter_ids: list[int], class_words: list[list[int]], action_words: list[list[int]]) -> None:
        super().__init__()
        self.frames = FrameEncoder(cfg, frame_dim, len(class_words), PER_CLASS, len(action_words))
        self.embed = nn.Embedding(vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_length, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.pointer = nn.Linear(cfg.d_model, 1, bias=False)
        self.gate = nn.Linear(cfg.d_model, 1)  # at <sep>: is this an answer prompt (point) or a rationale one?
        self.match_q = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.match_o = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.match_v = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.ground = Grounding(cfg, len(letter_ids))
        self.sep_id = sep_id
        self.register_buffer("letter_ids", torch.tensor(letter_ids, dtype=torch.long), persistent=False)
        self.register_buffer("class_words", _padded(class_words), persistent=False)
        self.register_buffer("action_words", _padded(action_words), persistent=False)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)

    def prefix(self, frames: torch.Tensor) -> Prefix:
        """What the text reads of (S, N, F) frame features: each layer's keys and values of the
        visual tokens. Visual tokens attend to each other only, never to text (a prefix LM), so
        they are computed once per sample however many text rows (answer, rationale) read them."""
        phrases, names = self._word_vectors(self.action_words), self._word_vectors(self.class_words)
        x, video = self.frames(frames, names, phrases)
        x = self.drop(x)
        kv: Cache = []
        for block in self.blocks:
            x, layer = block(x, None)
            kv.append(layer)
        return Prefix(kv, video, frames, phrases, names)

    def text(self, prefix: Prefix, ids: torch.Tensor, options: torch.Tensor, answer_rows: torch.Tensor | None = None,
             sample: torch.Tensor | None = None) -> tuple[torch.Tensor, Cache]:
        """(B, T) ids and option marks reading the prefix of sample ``sample[b]`` (None: row b's)
        -> (B, T, V) logits of the next token and each layer's keys and values, for generation."""
        pick = (lambda t: t) if sample is None else (lambda t: t[sample])  # noqa: E731
        n_vis, n = prefix.kv[0][0].shape[2], ids.shape[1]
        mask = torch.ones(n, n_vis + n, dtype=torch.bool, device=ids.device)
        mask[:, n_vis:].tril_()  # text -> every visual token and the text before it
        x = self.drop(self.embed(ids) + self.pos(torch.arange(n, device=ids.device)))
        cache: Cache = []
        for block, (k, v) in zip(self.blocks, prefix.kv):
            x, layer = block(x, mask, (pick(k), pick(v)))
            cache.append(layer)
        h = self.ln(x)
        frames = pick(prefix.frames)
        grounded = self.ground(self.embed(ids), options, h, prefix.phrases, frames[..., self.frames.frame_dim :],
                               prefix.names, frames[..., : self.frames.classes * PER_CLASS : PER_CLASS])
        return self._point(h @ self.embed.weight.T, h, pick(prefix.video), ids, options, answer_rows, grounded), cache

    def _run(self, frames: torch.Tensor, ids: torch.Tensor, options: torch.Tensor,
             answer_rows: torch.Tensor | None = None) -> tuple[torch.Tensor, Cache]:
        return self.text(self.prefix(frames), ids, options, answer_rows)

    def _word_vectors(self, words: torch.Tensor) -> torch.Tensor:
        """(C, d): the mean word embedding of each row of token ids (padded with -1)."""
        valid = (words >= 0).to(self.embed.weight.dtype)
        vectors = self.embed(words.clamp(min=0)) * valid.unsqueeze(-1)
        return vectors.sum(1) / valid.sum(1, keepdim=True)

    def _point(self, logits: torch.Tensor, h: torch.Tensor, video: torch.Tensor, ids: torch.Tensor,
               options: torch.Tensor, answer_rows: torch.Tensor | None, grounded: torch.Tensor) -> torch.Tensor:
        """Add each option's score to its letter's logit at ``<sep>`` (see the class docstring)."""
        k = len(self.letter_ids)
        onehot = F.one_hot(options, k + 2)[..., 1:].to(h.dtype)  # (B, T, K + 1); mark 0 = neither
        pooled = onehot.transpose(1, 2) @ h / onehot.sum(1).clamp(min=1)[..., None]  # (B, K + 1, d)
        opts, question = pooled[:, :k], pooled[:, k:]
        context = self.match_q(question) + self.match_v(video).unsqueeze(1)  # (B, 1, d)
        match = (self.match_o(opts) * context).sum(-1) / math.sqrt(h.shape[-1])
        scores = self.pointer(opts).squeeze(-1) + match + grounded  # (B, K); an absent option scores 0
        bonus = torch.zeros(logits.shape[0], logits.shape[-1], dtype=logits.dtype, device=logits.device)
        bonus = bonus.index_copy(1, self.letter_ids, scores)
        at_sep = (ids == self.sep_id).unsqueeze(-1).to(logits.dtype) * torch.sigmoid(self.gate(h))
        if answer_rows is not None:  # a rationale row writes words at <sep>, never a pointed letter
            at_sep = at_sep * answer_rows.to(logits.dtype).view(-1, 1, 1)
        return logits + at_sep * bonus.unsqueeze(1)

    def forward(self, frames: torch.Tensor, parts: Sequence[Part]) -> list[torch.Tensor]:
        """(S, N, F) frame features and parts of text rows reading them -> each part's (B, T, V)
        logits of the next token. One call for all of a step's rows, so that a wrapper (DDP)
        sees one forward pass, and each sample's prefix runs once for its answer and rationale."""
        prefix = self.prefix(frames)
        return [self.text(prefix, p.ids, p.options, p.answer_rows, p.sample)[0] for p in parts]

    def step(self, token: torch.Tensor, position: int | torch.Tensor, cache: Cache,
             keys: torch.Tensor | None = None) -> torch.Tensor:
        """Logits after one more token per row (B, 1) at ``position`` (one for all rows, or (B,)),
        attending to the cached positions ``keys`` (B, cached + 1) allows (None: all); extends ``cache``."""
        pos = self.pos.weight[position] if isinstance(position, int) else self.pos(position).unsqueeze(1)
        x = self.embed(token) + pos
        mask = None if keys is None else keys[:, None, None, :]
        for i, block in enumerate(self.blocks):
            x, cache[i] = block(x, mask, cache[i])
        return self.ln(x) @ self.embed.weight.T


class EmbeddedStudent:
    """The ``Student`` protocol over a frozen ``VisionTower``, ``VideoLM`` and ``WorldTokenizer``."""

    name = "embedded"

    def __init__(self, tower: VisionTower, config: EmbeddedStudentConfig | None = None,
                 tokenizer: WorldTokenizer | None = None) -> None:
        self.tower = tower
        self._features: VideoFeatures | None = None
        self.config = config or EmbeddedStudentConfig()
        self.tokenizer = tokenizer or WorldTokenizer.build()
        self.max_length = self.config.max_length
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            letters = [self.tokenizer.token_id(letter) for letter in LETTERS]
            words = [self.tokenizer.encode(" " + name) for name in tower.classes]
            phrases = [self.tokenizer.encode(_phrase(verb, obj)) for verb, obj in tower.actions]
            self.model = VideoLM(self.config, tower.frame_dim, len(self.tokenizer), self.tokenizer.sep_id, letters,
                                 words, phrases)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def video_features(self, path: str | Path, start_s: float | None, end_s: float | None) -> torch.Tensor:
        """The tower features of a question's 32 frames, sliced from its video's, which are
        computed once (and kept under ``$AOTD_CACHE/features``) for every question and student."""
        if self._features is None:
            from aotd.paths import cache_dir

            self._features = VideoFeatures(self.tower, cache_dir() / "features")
        return self._features.features(path, start_s, end_s, self.config.num_frames)

    @property
    def visual_tokens(self) -> int:
        """Positions the frames take before the text: the video summary, the objects, the actions and k per frame."""
        tower = self.tower
        return 1 + len(tower.classes) + len(tower.actions) + self.config.num_frames * self.config.tokens_per_frame

    def num_parameters(self) -> int:
        """Trainable parameters (the tower is frozen and not counted)."""
        return sum(p.numel() for p in self.model.parameters())

    # -- encoding -------------------------------------------------------------------------
    def prepare_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, H, W, 3) uint8 frames -> (N, F) tower features (remembered by the tower, so the
        records of one sample, or students trained one after another, run it once); features
        given are passed through."""
        n = self.config.num_frames
        if isinstance(frames, torch.Tensor) and frames.dim() == 2:
            if tuple(frames.shape) != (n, self.tower.dim) or not frames.is_floating_point():
                raise ValueError(f"tower features must be ({n}, {self.tower.dim}) floats, got {tuple(frames.shape)}")
            return frames
        arr = np.asarray(frames)
        if arr.ndim != 4 or arr.shape[0] != n or arr.shape[3] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"the embedded student takes ({n}, H, W, 3) uint8 frames, got {arr.dtype} {arr.shape}")
        return self.tower.features(arr)

    def _prompt_ids(self, prompt: str) -> tuple[list[int], list[int]]:
        """``<bos> prompt <sep>`` and, per token, the option (1 = A, 2 = B, ...) whose line it is on."""
        tok = self.tokenizer
        ids = tok.encode(prompt)
        lines = [(m.start(), m.end(), LETTERS.index(m.group(1)) + 1) for m in _OPTION_LINE.finditer(prompt)]
        first = lines[0][0] if lines else 0  # the question: everything before the first option
        marks, at = [], 0
        for i in ids:
            marks.append(next((k for lo, hi, k in lines if lo <= at < hi), QUESTION if at < first else 0))
            at += len(tok.tokens[i])
        return [tok.bos_id, *ids, tok.sep_id], [0, *marks, 0]

    def encode(self, frames: np.ndarray | torch.Tensor, prompt: str, target: str, segment: int) -> Example:
        if segment not in (ANSWER, RATIONALE):
            raise ValueError(f"segment must be ANSWER ({ANSWER}) or RATIONALE ({RATIONALE}), got {segment}")
        head, marks = self._prompt_ids(prompt)
        tail = [*self.tokenizer.encode(target), self.tokenizer.eos_id]
        if len(head) + len(tail) > self.max_length:
            raise ValueError(f"example of {len(head) + len(tail)} tokens (prompt {len(head)}, target {len(tail)}) "
                             f"exceeds the embedded student's max_length {self.max_length}")
        options = torch.tensor(marks + [0] * len(tail), dtype=torch.long)
        return Example(input_ids=head + tail, segments=[IGNORE] * len(head) + [segment] * len(tail),
                       visual={"features": self.prepare_frames(frames), "options": options})

    def collate(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("cannot collate an empty batch")
        t = max(len(e.input_ids) for e in examples)
        ids = torch.full((len(examples), t), self.tokenizer.pad_id, dtype=torch.long)
        segments = torch.full((len(examples), t), IGNORE, dtype=torch.long)
        options = torch.zeros((len(examples), t), dtype=torch.long)
        for i, e in enumerate(examples):
            ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
            segments[i, : len(e.segments)] = torch.tensor(e.segments)
            options[i, : len(e.input_ids)] = e.visual["options"]
        return {"input_ids": ids, "segments": segments, "options": options,
                "answer_rows": (segments == ANSWER).any(1), "sample_ids": [e.sample_id for e in examples],
                "features": torch.stack([e.visual["features"] for e in examples])}

    def logits(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.logits_shared([batch])[0]

    def logits_shared(self, batches: list[dict[str, Any]]) -> list[torch.Tensor]:
        """Each batch's logits, in one forward pass in which a sample's visual prefix runs once
        for all its rows (a step's answer and rationale records: the video encoded once for both).
        Rows share a prefix when their sample ids and features are equal; a row without a
        sample id has its own."""
        device, features, parts = self.device, [], []
        keys: dict[Any, list[int]] = {}  # sample id -> its prefixes (one, unless ids repeat across videos)
        for n, batch in enumerate(batches):
            ids = batch.get("sample_ids") or [""] * len(batch["input_ids"])
            sample = []
            for i, sid in enumerate(ids):
                same = keys.setdefault(sid or (n, i), [])
                at = next((k for k in same if torch.equal(features[k], batch["features"][i])), None)
                if at is None:
                    at = len(features)
                    same.append(at)
                    features.append(batch["features"][i])
                sample.append(at)
            rows = batch.get("answer_rows")
            parts.append(Part(batch["input_ids"].to(device), batch["options"].to(device),
                              None if rows is None else rows.to(device), torch.tensor(sample, device=device)))
        return self.model(torch.stack(features).to(device), parts)

    # -- inference ------------------------------------------------------------------------
    def generate(self, frames: np.ndarray | torch.Tensor, prompt: str, max_new_tokens: int = 256) -> str:
        """Greedy decoding with a key/value cache, until ``<eos>``, ``max_new_tokens`` or ``max_length``."""
        return self.generate_batch([(frames, prompt)], max_new_tokens)[0]

    @torch.no_grad()
    def generate_batch(self, items: Sequence[tuple[np.ndarray | torch.Tensor, str]],
                       max_new_tokens: int = 256) -> list[str]:
        """``generate`` for several (frames, prompt) pairs in one padded batch: the replies it
        gives one by one (rows are independent: prompts are padded on the right, where causal
        attention never looks, and each row's decoded tokens skip its padding), at a fraction
        of the cost when a whole split is scored."""
        if not items:
            return []
        heads = [self._prompt_ids(prompt) for _, prompt in items]
        for head, _ in heads:
            if len(head) >= self.max_length:
                raise ValueError(f"prompt of {len(head)} tokens leaves no room under max_length {self.max_length}")
        was_training = self.model.training
        self.model.eval()
        try:
            device, rows = self.device, len(items)
            lengths = torch.tensor([len(head) for head, _ in heads], device=device)
            width = int(lengths.max())
            ids = torch.full((rows, width), self.tokenizer.pad_id, dtype=torch.long, device=device)
            marks = torch.zeros((rows, width), dtype=torch.long, device=device)
            for i, (head, mark) in enumerate(heads):
                ids[i, : len(head)], marks[i, : len(head)] = torch.tensor(head), torch.tensor(mark)
            vis = torch.stack([self.prepare_frames(frames) for frames, _ in items]).to(device)
            answering = torch.tensor([not prompt.rstrip().endswith(RATIONALE_SUFFIX) for _, prompt in items],
                                     device=device)
            logits, cache = self.model._run(vis, ids, marks, answering)
            next_logits = logits[torch.arange(rows, device=device), lengths - 1]
            budgets = [min(self.max_length, n + max_new_tokens) - n for n in lengths.tolist()]
            keys = None
            if int(lengths.min()) < width:  # a shorter row must not see the padding after its prompt
                n_vis = cache[0][0].shape[2] - width
                keys = torch.arange(n_vis + width, device=device)[None] < (n_vis + lengths)[:, None]
            out: list[list[int]] = [[] for _ in items]
            live = [budget > 0 for budget in budgets]
            for step in range(max(budgets)):
                tokens = next_logits.argmax(-1)
                for i, token in enumerate(tokens.tolist()):
                    if live[i]:
                        if token == self.tokenizer.eos_id:
                            live[i] = False
                        else:
                            out[i].append(token)
                            live[i] = len(out[i]) < budgets[i]
                if not any(live):
                    break
                if keys is not None:
                    keys = torch.cat([keys, keys.new_ones(rows, 1)], 1)
                # a finished row keeps stepping (its tokens are dropped); its position stays in the table
                positions = (lengths + step).clamp(max=self.max_length - 1)
                next_logits = self.model.step(tokens.view(rows, 1), positions, cache, keys)[:, -1]
            return [self.tokenizer.decode(tokens) for tokens in out]
        finally:
            self.model.train(was_training)

    # -- persistence ----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps({"student": self.name, **asdict(self.config)}, indent=2))
        self.tokenizer.save(directory / TOKENIZER_FILE)
        self.tower.save(directory / TOWER_FILE)
        torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()}, directory / WEIGHTS_FILE)
        (directory / MARKER).write_text(json.dumps({"kind": self.name, "tower": self.tower.fingerprint()}) + "\n")

    @classmethod
    def load(cls, directory: Path, map_location: str | torch.device = "cpu") -> EmbeddedStudent:
        directory = Path(directory)
        data = json.loads((directory / CONFIG_FILE).read_text())
        if data.pop("student", cls.name) != cls.name:
            raise ValueError(f"{directory} holds a different student, not {cls.name!r}")
        student = cls(VisionTower.load(directory / TOWER_FILE), EmbeddedStudentConfig.from_dict(data),
                      WorldTokenizer.load(directory / TOKENIZER_FILE))
        state = torch.load(directory / WEIGHTS_FILE, map_location=map_location, weights_only=True)
        student.model.load_state_dict(state)
        return student
