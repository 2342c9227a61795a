"""STAR-style questions about one simulated episode, answered from the simulator's events.

Each template knows three things: the question text, the STAR-operator program that
answers it, and how the answer follows from the episode's event list. The answer comes
from the events, never from running the program, so the program executor
(``aotd.data.star_program``) is an independent check of every question (a test runs it
over hundreds). A template only asks a question in a window where its answer is unique.

Distractors must not be ruled out by the text: every wrong option satisfies what the question
text implies (the verb's affordances, the hands' state after "they took X", the holding rule)
and never names an object of the question when the answer does not (``rules.py``). Each
template yields every question it can ask about an episode with its ``allowed`` wrong options;
which three are shown, and which questions are kept, is decided over the whole pool so that
text alone cannot tell the answer (``balance.py``).

Windows are frame ranges whose edges fall in the gaps between actions, so an action is
either wholly inside a window or outside it. Prediction questions end their window before
the action they ask about; that action's key frames are still given in the situations (as
STAR does) so that the program can check the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aotd.embedded.world import rules
from aotd.embedded.world.simulate import ActionEvent, Episode
from aotd.embedded.world.vocab import OBJECTS, VERBS, affords

Step = dict[str, Any]


def _p(function: str, *values: Any) -> Step:
    return {"function": function, "value_input": list(values)}


@dataclass
class Question:
    family: str
    template: int
    text: str
    program: list[Step]
    kind: str  # obj | verb | action
    answer: Any  # object name, verb name or (verb, object)
    window: tuple[int, int]  # inclusive frames shown to the model
    extra_frames: tuple[int, int] | None = None  # the predicted action's frames (Prediction)
    subject: str | None = None  # the object a verb question is about
    slots: dict[str, str] = field(default_factory=dict)  # what the text names: verb, obj, ref_verb, ref_obj, held
    allowed: list[Any] = field(default_factory=list)  # wrong options every constraint of the text allows
    distractors: list[Any] = field(default_factory=list)  # chosen from ``allowed`` over the whole pool (balance.py)

    @property
    def named(self) -> set[str]:
        """Objects the question text names: an option about one of them could be copied from the text."""
        return {v for k, v in self.slots.items() if k in ("obj", "ref_obj", "held")}


@dataclass
class Context:
    """What templates may look at: the events and, per frame, what is visible and held."""

    episode: Episode
    visible: list[set[str]]  # per frame: object names drawn in it (tables excluded)
    rng: np.random.Generator

    @property
    def events(self) -> list[ActionEvent]:
        return self.episode.events

    @property
    def last_frame(self) -> int:
        return self.episode.num_frames - 1

    def gap_before(self, i: int) -> tuple[int, int]:
        """Frames a window may start at to begin with event i (after event i-1 ends)."""
        lo = self.events[i - 1].end + 1 if i > 0 else 0
        return lo, self.events[i].start

    def gap_after(self, j: int) -> tuple[int, int]:
        hi = self.events[j + 1].start - 1 if j + 1 < len(self.events) else self.last_frame
        return self.events[j].end, hi

    def window(self, i: int, j: int) -> tuple[int, int]:
        """A random window holding exactly events i..j."""
        lo0, lo1 = self.gap_before(i)
        hi0, hi1 = self.gap_after(j)
        return int(self.rng.integers(lo0, lo1 + 1)), int(self.rng.integers(hi0, hi1 + 1))

    def visible_in(self, window: tuple[int, int]) -> set[str]:
        out: set[str] = set()
        for k in self.episode.keyframes(*window):
            out |= self.visible[k]
        return out

    def state_at(self, frame: int, name: str) -> tuple[str, bool]:
        o = self.episode.frames[frame].objects[name]
        return o.mode, o.opened

    def extend(self, i: int, j: int, ok: Callable[[int, int], bool]) -> tuple[int, int]:
        """Randomly widen [i, j] by whole events while ``ok`` still holds."""
        n = len(self.events)
        for _ in range(2):
            if i > 0 and self.rng.random() < 0.5 and ok(i - 1, j):
                i -= 1
            if j + 1 < n and self.rng.random() < 0.5 and ok(i, j + 1):
                j += 1
        return i, j


# --- surface forms -------------------------------------------------------------------------
def choice_text(kind: str, value: Any) -> str:
    if kind == "obj":
        return f"The {value}."
    if kind == "verb":
        return f"{VERBS[value].past.capitalize()}."
    verb, obj = value
    return f"{VERBS[verb].past.capitalize()} the {obj}."


def open_answer(kind: str, value: Any) -> str:
    if kind == "obj":
        return str(value)
    if kind == "verb":
        return VERBS[value].past
    verb, obj = value
    return f"{VERBS[verb].past} the {obj}"


def choice_program(kind: str, value: Any) -> list[Step]:
    values = list(value) if kind == "action" else [value]
    return [_p("Equal", *values)]


def _ref(verb: str, obj: str) -> list[Step]:
    """Push the unique action (verb, obj): the anchor of Sequence questions."""
    return [_p("Situations"), _p("Actions"), _p("Filter_Actions_with_Verb", verb), _p("Filter_Actions_with_Obj", obj), _p("Unique")]


_ALL_ACTIONS = [_p("Situations"), _p("Actions")]


# --- Interaction -----------------------------------------------------------------------------
def _without(values: Any, *wrong: Any) -> list[Any]:
    return [v for v in values if v not in wrong]


def interaction_t1(ctx: Context, i: int) -> list[Question]:
    e = ctx.events[i]
    same_verb = lambda a, b: sum(ev.verb == e.verb for ev in ctx.events[a : b + 1]) == 1  # noqa: E731
    a, b = ctx.extend(i, i, same_verb)
    return [Question("Interaction", 1, f"Which object was {VERBS[e.verb].participle} by the person?",
                     [_p("Situations"), _p("Actions"), _p("Filter_Actions_with_Verb", e.verb), _p("Unique"), _p("Query_Objs")],
                     "obj", e.obj, ctx.window(a, b), slots={"verb": e.verb},
                     allowed=_without(rules.objects_for(e.verb), e.obj))]


def interaction_t2(ctx: Context, i: int) -> list[Question]:
    e = ctx.events[i]
    if len(rules.verbs_for(e.obj)) < 4:  # furniture is only opened or closed: no three wrong verbs to offer
        return []
    same_obj = lambda a, b: sum(ev.obj == e.obj for ev in ctx.events[a : b + 1]) == 1  # noqa: E731
    a, b = ctx.extend(i, i, same_obj)
    return [Question("Interaction", 2, f"What did the person do with the {e.obj}?",
                     [_p("Situations"), _p("Filter_Situations_with_Obj", e.obj), _p("Actions"),
                      _p("Filter_Actions_with_Obj", e.obj), _p("Unique"), _p("Query_Verbs")],
                     "verb", e.verb, ctx.window(a, b), subject=e.obj, slots={"obj": e.obj},
                     allowed=_without(rules.verbs_for(e.obj), e.verb))]


def _holding_span(ctx: Context, take: int) -> int:
    """Index of the event that ends holding what event ``take`` picked up (or len(events))."""
    obj = ctx.events[take].obj
    for k in range(take + 1, len(ctx.events)):
        if ctx.events[k].obj == obj and ctx.events[k].verb in ("put", "throw", "eat"):
            return k
    return len(ctx.events)


def _while_holding(ctx: Context, i: int) -> tuple[str, int, tuple[int, int]] | None:
    """For event i done while holding another object: (held object, i, window holding only i)."""
    for t in range(i - 1, -1, -1):
        if ctx.events[t].verb == "take":
            release = _holding_span(ctx, t)
            held = ctx.events[t].obj
            if not (t < i < release) or ctx.events[i].obj == held:
                return None
            lo = max(ctx.gap_before(i)[0], ctx.events[t].end + 1)
            hi = ctx.gap_after(i)[1]
            if release < len(ctx.events):
                hi = min(hi, ctx.events[release].start - 1)
            if lo > ctx.events[i].start or hi < ctx.events[i].end:
                return None
            return held, i, (int(ctx.rng.integers(lo, ctx.events[i].start + 1)), int(ctx.rng.integers(ctx.events[i].end, hi + 1)))
    return None


def interaction_t3(ctx: Context, i: int) -> list[Question]:
    found = _while_holding(ctx, i)
    if found is None:
        return []
    held, _, window = found
    e = ctx.events[i]
    options = rules.while_holding(held)
    if (e.verb, e.obj) not in options:
        return []
    return [Question("Interaction", 3, f"What did the person do while they were holding the {held}?",
                     [_p("Situations"), _p("Filter_Situations_with_Rel", "holding"), _p("Filter_Situations_with_Obj", held),
                      _p("Actions"), _p("Unique"), _p("Query_Actions")],
                     "action", (e.verb, e.obj), window, slots={"held": held},
                     allowed=_without(options, (e.verb, e.obj)))]


# --- Sequence ---------------------------------------------------------------------------------
def _objects_after(ref: ActionEvent, verb: str, answer: str, happened: set[str]) -> list[str]:
    """Objects that could be the ``verb`` object after ``ref``: never the object the text names,
    nor one that was also ``verb``-ed after it (the question would have two right answers)."""
    return [o for o in rules.objects_for(verb)
            if o not in (answer, ref.obj) and o not in happened and rules.can_follow_later((ref.verb, ref.obj), (verb, o))]


def _objects_before(ref: ActionEvent, verb: str, answer: str, happened: set[str]) -> list[str]:
    return [o for o in rules.objects_for(verb)
            if o not in (answer, ref.obj) and o not in happened and rules.can_follow_later((verb, o), (ref.verb, ref.obj))]


def sequence_t1(ctx: Context, r: int) -> list[Question]:
    ref = ctx.events[r]
    out = []
    for verb in sorted({e.verb for e in ctx.events[r + 1 :]}):
        j = next(k for k in range(r + 1, len(ctx.events)) if ctx.events[k].verb == verb)
        answer = ctx.events[j].obj
        if answer == ref.obj:  # "put down after they took the box" -> the box: copied from the text
            continue
        a, b = ctx.extend(r, j, lambda a, b: True)
        out.append(Question("Sequence", 1, f"Which object did the person {VERBS[verb].base} after they {VERBS[ref.verb].past} the {ref.obj}?",
                            [*_ALL_ACTIONS, *_ref(ref.verb, ref.obj), _p("Filter_After_Actions"),
                             _p("Filter_Actions_with_Verb", verb), _p("Unique"), _p("Query_Objs")],
                            "obj", answer, ctx.window(a, b),
                            slots={"verb": verb, "ref_verb": ref.verb, "ref_obj": ref.obj},
                            allowed=_objects_after(ref, verb, answer, {e.obj for e in ctx.events[r + 1 :] if e.verb == verb})))
    return out


def sequence_t2(ctx: Context, r: int) -> list[Question]:
    ref = ctx.events[r]
    out = []
    for verb in sorted({e.verb for e in ctx.events[:r]}):
        j = max(k for k in range(r) if ctx.events[k].verb == verb)
        answer = ctx.events[j].obj
        if answer == ref.obj:
            continue
        a, b = ctx.extend(j, r, lambda a, b: True)
        out.append(Question("Sequence", 2, f"Which object did the person {VERBS[verb].base} before they {VERBS[ref.verb].base} the {ref.obj}?",
                            [*_ALL_ACTIONS, *_ref(ref.verb, ref.obj), _p("Filter_Before_Actions"),
                             _p("Filter_Actions_with_Verb", verb), _p("Query_Latest_Action"), _p("Query_Objs")],
                            "obj", answer, ctx.window(a, b),
                            slots={"verb": verb, "ref_verb": ref.verb, "ref_obj": ref.obj},
                            allowed=_objects_before(ref, verb, answer, {e.obj for e in ctx.events[:r] if e.verb == verb})))
    return out


def sequence_t3(ctx: Context, r: int) -> list[Question]:
    if r + 1 >= len(ctx.events):
        return []
    ref, nxt = ctx.events[r], ctx.events[r + 1]
    prev, answer = (ref.verb, ref.obj), (nxt.verb, nxt.obj)
    later = {(e.verb, e.obj) for e in ctx.events[r + 1 :]}  # also "after": never a wrong option
    if not rules.can_follow(prev, answer):
        return []
    a, b = ctx.extend(r, r + 1, lambda a, b: True)
    return [Question("Sequence", 3, f"What did the person do after they {VERBS[ref.verb].past} the {ref.obj}?",
                     [*_ALL_ACTIONS, *_ref(ref.verb, ref.obj), _p("Filter_After_Actions"),
                      _p("Query_Earliest_Action"), _p("Query_Actions")],
                     "action", answer, ctx.window(a, b), slots={"ref_verb": ref.verb, "ref_obj": ref.obj},
                     allowed=[x for x in rules.all_actions() if x != answer and rules.can_follow(prev, x) and x not in later])]


def sequence_t4(ctx: Context, r: int) -> list[Question]:
    if r == 0:
        return []
    ref, prev = ctx.events[r], ctx.events[r - 1]
    nxt, answer = (ref.verb, ref.obj), (prev.verb, prev.obj)
    earlier = {(e.verb, e.obj) for e in ctx.events[:r]}
    if not rules.can_follow(answer, nxt):
        return []
    a, b = ctx.extend(r - 1, r, lambda a, b: True)
    return [Question("Sequence", 4, f"What did the person do before they {VERBS[ref.verb].base} the {ref.obj}?",
                     [*_ALL_ACTIONS, *_ref(ref.verb, ref.obj), _p("Filter_Before_Actions"),
                      _p("Query_Latest_Action"), _p("Query_Actions")],
                     "action", answer, ctx.window(a, b), slots={"ref_verb": ref.verb, "ref_obj": ref.obj},
                     allowed=[x for x in rules.all_actions() if x != answer and rules.can_follow(x, nxt) and x not in earlier])]


# --- Prediction ---------------------------------------------------------------------------------
def _observed(ctx: Context, t: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """A window that ends in the gap before event t (with >= 1 event in it), plus t's frames."""
    if t == 0:
        return None
    first = int(ctx.rng.integers(max(0, t - 3), t))
    lo0, lo1 = ctx.gap_before(first)
    hi0, hi1 = ctx.events[t - 1].end, ctx.events[t].start - 1
    window = (int(ctx.rng.integers(lo0, lo1 + 1)), int(ctx.rng.integers(hi0, hi1 + 1)))
    return window, (ctx.events[t].start, ctx.events[t].end)


def prediction_t1(ctx: Context, t: int) -> list[Question]:
    obs = _observed(ctx, t)
    if obs is None:
        return []
    e = ctx.events[t]
    return [Question("Prediction", 1, "What will the person do next?",
                     [*_ALL_ACTIONS, _p("Query_Latest_Action"), _p("Query_Actions")],
                     "action", (e.verb, e.obj), obs[0], obs[1],
                     allowed=_without(rules.all_actions(), (e.verb, e.obj)))]


def prediction_t2(ctx: Context, t: int) -> list[Question]:
    obs = _observed(ctx, t)
    e = ctx.events[t]
    if obs is None or e.obj not in ctx.visible_in(obs[0]) or len(rules.verbs_for(e.obj)) < 4:
        return []
    return [Question("Prediction", 2, f"What will the person do next with the {e.obj}?",
                     [*_ALL_ACTIONS, _p("Filter_Actions_with_Obj", e.obj), _p("Query_Latest_Action"), _p("Query_Verbs")],
                     "verb", e.verb, obs[0], obs[1], subject=e.obj, slots={"obj": e.obj},
                     allowed=_without(rules.verbs_for(e.obj), e.verb))]


def prediction_t3(ctx: Context, t: int) -> list[Question]:
    obs = _observed(ctx, t)
    if obs is None:
        return []
    e = ctx.events[t]
    return [Question("Prediction", 3, f"Which object would the person {VERBS[e.verb].base} next?",
                     [*_ALL_ACTIONS, _p("Filter_Actions_with_Verb", e.verb), _p("Query_Latest_Action"), _p("Query_Objs")],
                     "obj", e.obj, obs[0], obs[1], slots={"verb": e.verb},
                     allowed=_without(rules.objects_for(e.verb), e.obj))]


def prediction_t4(ctx: Context, t: int) -> list[Question]:
    obs = _observed(ctx, t)
    if obs is None:
        return []
    window, extra = obs
    e = ctx.events[t]
    inside = [k for k in range(t) if ctx.events[k].start >= window[0]]
    refs = [k for k in inside if all(ctx.events[m].verb != e.verb for m in range(k + 1, t))]
    out = []
    for k in refs:
        ref = ctx.events[k]
        if ref.obj == e.obj:  # "put down next after they take the book" -> the book: copied from the text
            continue
        out.append(Question("Prediction", 4, f"Which object would the person {VERBS[e.verb].base} next after they {VERBS[ref.verb].base} the {ref.obj}?",
                            [*_ALL_ACTIONS, *_ref(ref.verb, ref.obj), _p("Filter_After_Actions"),
                             _p("Filter_Actions_with_Verb", e.verb), _p("Query_Earliest_Action"), _p("Query_Objs")],
                            "obj", e.obj, window, extra, slots={"verb": e.verb, "ref_verb": ref.verb, "ref_obj": ref.obj},
                            allowed=_objects_after(ref, e.verb, e.obj, set())))
    return out


# --- Feasibility --------------------------------------------------------------------------------
def _feasible_now(ctx: Context, verb: str, name: str, frame: int) -> bool:
    """Whether the person could really do (verb, name) at the end of the window."""
    mode, opened = ctx.state_at(frame, name)
    held = ctx.episode.frames[frame].holding is not None
    if mode == "gone":
        return False
    if verb == "open":
        return not opened and (OBJECTS[name].fixed or (mode == "rest" and not held))
    if verb == "close":
        return opened and (OBJECTS[name].fixed or (mode == "rest" and not held))
    if verb == "take":
        return mode == "rest" and not held
    if verb == "eat":
        return mode in ("rest", "held")
    if verb == "throw":
        return mode == "held" or (mode == "rest" and not held)
    return False


def _affording(names: set[str], verb: str) -> set[str]:
    return {n for n in names if affords(verb, OBJECTS[n])}


def feasibility_t1(ctx: Context, i: int) -> list[Question]:
    e = ctx.events[i]
    window = ctx.window(*ctx.extend(i, i, lambda a, b: True))
    done = {ev.obj for ev in ctx.events if ev.verb == e.verb and window[0] <= ev.start <= window[1]}
    left = _affording(ctx.visible_in(window), e.verb) - done
    if len(left) != 1:
        return []
    (answer,) = left
    if not _feasible_now(ctx, e.verb, answer, window[1]):
        return []
    return [Question("Feasibility", 1, f"Which other object is possible to be {VERBS[e.verb].participle} by the person?",
                     [_p("Situations"), _p("Objs"), _p("Filter_Objs_by_Verb", e.verb),
                      _p("Situations"), _p("Actions"), _p("Filter_Actions_with_Verb", e.verb), _p("Query_Objs"),
                      _p("Except"), _p("Unique")],
                     "obj", answer, window, slots={"verb": e.verb},
                     allowed=_without(rules.objects_for(e.verb), answer))]


def feasibility_t2(ctx: Context, i: int) -> list[Question]:
    j = min(len(ctx.events) - 1, i + int(ctx.rng.integers(0, 3)))
    window = ctx.window(i, j)
    visible = ctx.visible_in(window)
    out = []
    for verb in ("open", "close", "take", "eat", "throw"):
        options = _affording(visible, verb)
        if len(options) == 1:
            (answer,) = options
            if _feasible_now(ctx, verb, answer, window[1]):
                out.append(Question("Feasibility", 2, f"Which object is the person able to {VERBS[verb].base}?",
                                    [_p("Situations"), _p("Objs"), _p("Filter_Objs_by_Verb", verb), _p("Unique")],
                                    "obj", answer, window, slots={"verb": verb},
                                    allowed=_without(rules.objects_for(verb), answer)))
    return out


def feasibility_t3(ctx: Context, i: int) -> list[Question]:
    found = _while_holding(ctx, i)
    if found is None:
        return []
    held, _, window = found
    visible = ctx.visible_in(window)
    out = []
    for verb in ("open", "close"):
        options = _affording(visible, verb)
        if len(options) == 1:
            (answer,) = options
            if OBJECTS[answer].fixed and _feasible_now(ctx, verb, answer, window[1]):
                furniture = [o for o in rules.objects_for(verb) if OBJECTS[o].fixed]  # a portable needs a free hand
                out.append(Question("Feasibility", 3,
                                    f"Which object is possible to be {VERBS[verb].participle} by the person while they are holding the {held}?",
                                    [_p("Situations"), _p("Filter_Situations_with_Rel", "holding"), _p("Filter_Situations_with_Obj", held),
                                     _p("Objs"), _p("Filter_Objs_by_Verb", verb), _p("Unique")],
                                    "obj", answer, window, slots={"verb": verb, "held": held},
                                    allowed=_without(furniture, answer)))
    return out


TEMPLATES: dict[str, list[Callable[[Context, int], list[Question]]]] = {
    "Interaction": [interaction_t1, interaction_t2, interaction_t3],
    "Sequence": [sequence_t1, sequence_t2, sequence_t3, sequence_t4],
    "Prediction": [prediction_t1, prediction_t2, prediction_t3, prediction_t4],
    "Feasibility": [feasibility_t1, feasibility_t2, feasibility_t3],
}


def candidates(ctx: Context) -> list[Question]:
    """Every question the templates can ask about the episode (one per distinct text), each with
    at least three allowed wrong options. Which are kept is decided over the whole pool."""
    out: list[Question] = []
    seen: set[str] = set()
    for templates in TEMPLATES.values():
        for template in templates:
            for i in range(len(ctx.events)):
                for q in template(ctx, i):
                    if q.text not in seen and len(q.allowed) >= 3:
                        seen.add(q.text)
                        out.append(q)
    return out
