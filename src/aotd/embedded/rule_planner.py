"""A planner without an LLM: regexes over the embedded world's question templates, one
hand-written program strategy per template.

It is the baseline that needs no model server, and the planner the tests and the embedded
pipeline can always run. The programs find the answer with the tools (``aotd.tools.api``) —
the plan never sees the label — and end in ``choose``. What the planner itself brings is what
an LLM planner brings: parsing the question, and common sense about which objects afford a
verb (the world's affordance table, ``aotd.embedded.world.vocab.affords``), never what is in the video.

Strategies, by family:

* Interaction: recognise actions where the question points (the whole clip; the frames where
  the object is visible; the span between taking and putting down the held object) and read
  the object, verb or action off the most likely one; ground "<verb> the <object>" per option
  when recognition finds nothing.
* Sequence: ground the anchor action with ``find_action``, recognise actions in the clip
  trimmed after (before) it, drop the anchor itself, and take the earliest (latest) one.
* Prediction: the answer happens after the clip, so no tool sees it. Verb and action questions
  tell the QA model what was just done and show it the clip from there; object questions keep
  the options that afford the verb, are in the scene and were not already acted on (after the
  anchor, for T4), and ask the QA model only when several remain.
* Feasibility: options that afford the verb (not the held object, for T3), are visible, and —
  for "which other object" — were not already acted on; the QA model breaks remaining ties.

A question that matches no template gets a plan with the error "unsupported question".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from aotd.data.records import Plan
from aotd.data.schema import QASample
from aotd.embedded.world.vocab import OBJECTS, VERBS, affords

_OBJ = r"(?P<{}>[a-z][a-z/ -]*?)"


def _forms(form: str) -> dict[str, str]:
    return {getattr(v, form): v.name for v in VERBS.values()}


_BASE, _PAST, _PART = _forms("base"), _forms("past"), _forms("participle")


def _alt(group: str, forms: dict[str, str]) -> str:
    return f"(?P<{group}>" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + ")"


def _template(pattern: str, **groups: dict[str, str]) -> re.Pattern[str]:
    fields = {name: _alt(name, forms) for name, forms in groups.items()}
    fields |= {name: _OBJ.format(name) for name in ("obj", "held", "ref_obj") if name not in fields}
    return re.compile("^" + pattern.format(**fields) + r"\??$", re.IGNORECASE)


# template id (as the world names it) -> pattern; verb groups match one surface form each
_TEMPLATES: dict[str, re.Pattern[str]] = {
    "Interaction_T1": _template(r"which object was {verb} by the person", verb=_PART),
    "Interaction_T2": _template(r"what did the person do with the {obj}"),
    "Interaction_T3": _template(r"what did the person do while they were holding the {held}"),
    "Sequence_T1": _template(r"which object did the person {verb} after they {ref_verb} the {ref_obj}", verb=_BASE, ref_verb=_PAST),
    "Sequence_T2": _template(r"which object did the person {verb} before they {ref_verb} the {ref_obj}", verb=_BASE, ref_verb=_BASE),
    "Sequence_T3": _template(r"what did the person do after they {ref_verb} the {ref_obj}", ref_verb=_PAST),
    "Sequence_T4": _template(r"what did the person do before they {ref_verb} the {ref_obj}", ref_verb=_BASE),
    "Prediction_T1": _template(r"what will the person do next"),
    "Prediction_T2": _template(r"what will the person do next with the {obj}"),
    "Prediction_T3": _template(r"which object would the person {verb} next", verb=_BASE),
    "Prediction_T4": _template(r"which object would the person {verb} next after they {ref_verb} the {ref_obj}", verb=_BASE, ref_verb=_BASE),
    "Feasibility_T1": _template(r"which other object is possible to be {verb} by the person", verb=_PART),
    "Feasibility_T2": _template(r"which object is the person able to {verb}", verb=_BASE),
    "Feasibility_T3": _template(r"which object is possible to be {verb} by the person while they are holding the {held}", verb=_PART),
}
_FORMS = {"verb": (_PART, _BASE), "ref_verb": (_PAST, _BASE)}  # surface form -> verb name, per group


def parse_question(question: str) -> tuple[str, dict[str, str]] | None:
    """(template id, slots) with verbs as class names (``take``) and objects as written."""
    text = " ".join(question.strip().split())
    for template, pattern in _TEMPLATES.items():
        m = pattern.match(text)
        if m:
            slots = {k: v.lower() for k, v in m.groupdict().items()}
            for key, forms in _FORMS.items():
                if key in slots:
                    slots[key] = next(f[slots[key]] for f in forms if slots[key] in f)
            return template, slots
    return None


def choice_object(choice: str) -> str:
    """The object a choice names: "The book." -> "book", "Took the book." -> "book"."""
    text = choice.strip().rstrip(".").lower()
    return text.rsplit("the ", 1)[-1].strip() if "the " in f" {text}" else text


def _affording(verb: str, names: list[str], exclude: str | None = None) -> list[str]:
    """Names that can take ``verb`` by common sense; unknown names are kept (no knowledge)."""
    out = [n for n in names if n != exclude and (n not in OBJECTS or affords(verb, OBJECTS[n]))]
    return out or [n for n in names if n != exclude]


def _listed(names: list[str]) -> str:
    """["door", "fridge", "box"] -> "the door, the fridge or the box"."""
    said = [f"the {n}" for n in names]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " or " + said[-1]


def _phrase(verb: str, obj: str) -> str:
    return f"{VERBS[verb].base} the {obj}"


# --- program text per template ---------------------------------------------------------------
_HEAD = "def execute_command(video, question, choices):\n"

_ANCHOR = """\
    # First find the anchor, "{anchor}".
    anchor = find_action(video, {anchor!r})
"""

_BY_ANCHOR_AFTER = _ANCHOR + """\
    clip = trim(video, anchor.end) if anchor is not None else video
    acts = [a for a in recognize_actions(clip) if a.window is not None
            and not (a.verb == {ref_verb!r} and a.obj == {ref_obj!r})]
"""

_BY_ANCHOR_BEFORE = _ANCHOR + """\
    clip = trim(video, video.first, anchor.start) if anchor is not None else video
    acts = [a for a in recognize_actions(clip) if a.window is not None
            and not (a.verb == {ref_verb!r} and a.obj == {ref_obj!r})]
"""

_PICK_OBJECT = """\
    # Of the options, only {listed} can be {verb_past}.
    candidates = {candidates!r}
    # It must be in the scene{scene_note}.
    candidates = [name for name in candidates if detect({scene}, name)]
"""

_DECIDE = """\
    if len(candidates) == 1:
        return choose(choices, candidates[0])
    options = [choose(choices, name) for name in candidates] or choices
    return query(video, question, options)
"""


def _interaction_t1(s: dict[str, str], names: list[str]) -> str:
    return _HEAD + f"""\
    # The object of a recognised "{s['verb']}" action.
    acts = [a for a in recognize_actions(video) if a.verb == {s['verb']!r}]
    if acts:
        return choose(choices, acts[0].obj)
    # None recognised: ground "{VERBS[s['verb']].base} the <object>" for each option.
    best, best_score = None, 0.0
    for name in {names!r}:
        window = find_action(video, {VERBS[s['verb']].base + ' the '!r} + name)
        if window is not None and window.score > best_score:
            best, best_score = name, window.score
    if best is not None:
        return choose(choices, best)
    return query(video, question, choices)
"""


def _interaction_t2(s: dict[str, str], names: list[str]) -> str:
    return _HEAD + f"""\
    # What was done to the {s['obj']}, where it is visible.
    frames = [box.frame for box in detect(video, {s['obj']!r})]
    clip = trim(video, min(frames), max(frames)) if frames else video
    acts = [a for a in recognize_actions(clip, {s['obj']!r}) if a.obj == {s['obj']!r}]
    if acts:
        return choose(choices, acts[0].verb)
    return query(clip, question, choices)
"""


def _interaction_t3(s: dict[str, str], names: list[str]) -> str:
    held = s["held"]
    return _HEAD + f"""\
    # Holding lasts from taking the {held} to putting it down.
    start, end = video.first, video.last
    taken = find_action(video, {_phrase('take', held)!r})
    if taken is not None:
        start = taken.end
    put = find_action(trim(video, start), {_phrase('put', held)!r})
    if put is not None:
        end = put.start
    span = trim(video, start, end)
    # What else happened then.
    acts = [a for a in recognize_actions(span) if a.obj != {held!r}]
    if acts:
        return choose(choices, acts[0])
    return query(span, question, choices)
"""


def _sequence(after: bool, answer: str) -> Callable[[dict[str, str], list[str]], str]:
    """Sequence T1-T4: the earliest action after / latest before the anchor; its object or itself."""
    def build(s: dict[str, str], names: list[str]) -> str:
        fields = {"anchor": _phrase(s["ref_verb"], s["ref_obj"]), "ref_verb": s["ref_verb"], "ref_obj": s["ref_obj"]}
        body = (_BY_ANCHOR_AFTER if after else _BY_ANCHOR_BEFORE).format(**fields)
        if answer == "obj":
            body += f"""\
    acts = [a for a in acts if a.verb == {s['verb']!r}]
"""
        pick = "min(acts, key=lambda a: a.window.start)" if after else "max(acts, key=lambda a: a.window.end)"
        which = "earliest" if after else "latest"
        evidence = "act.obj" if answer == "obj" else "act"
        return _HEAD + body + f"""\
    if not acts:
        return query(clip, question, choices)
    # The {which} one {'after' if after else 'before'} the anchor.
    act = {pick}
    return choose(choices, {evidence})
"""
    return build


def _prediction_next(s: dict[str, str], names: list[str]) -> str:
    obj = s.get("obj")
    recognise = f"recognize_actions(video, {obj!r})" if obj else "recognize_actions(video)"
    return _HEAD + f"""\
    # The answer is after the clip; what was last done{' with the ' + obj if obj else ''} hints at it.
    done = [a for a in {recognise} if a.window is not None]
    if not done:
        return query(video, question, choices)
    last = max(done, key=lambda a: a.window.end)
    recent = trim(video, last.window.start)
    return query(recent, "The person has just done this: " + last.text + ". " + question, choices)
"""


def _prediction_object(s: dict[str, str], names: list[str]) -> str:
    verb = s["verb"]
    candidates = _affording(verb, names)
    body = _PICK_OBJECT.format(verb_past=VERBS[verb].participle, candidates=candidates, listed=_listed(candidates),
                               scene="video", scene_note="")
    if "ref_obj" in s:
        body += _ANCHOR.format(anchor=_phrase(s["ref_verb"], s["ref_obj"])) + """\
    clip = trim(video, anchor.end) if anchor is not None else video
"""
        where, since = "clip", " since the anchor"
    else:
        where, since = "video", ""
    body += f"""\
    # Prefer one not already {VERBS[verb].participle}{since}.
    done = [a.obj for a in recognize_actions({where}) if a.verb == {verb!r}]
    candidates = [name for name in candidates if name not in done] or candidates
"""
    return _HEAD + body + _DECIDE


def _feasibility(s: dict[str, str], names: list[str]) -> str:
    verb, held = s["verb"], s.get("held")
    candidates = _affording(verb, names, exclude=held)
    body = _PICK_OBJECT.format(verb_past=VERBS[verb].participle, candidates=candidates, listed=_listed(candidates),
                               scene="video", scene_note=f", besides the {held} in hand" if held else "")
    if s.get("other"):
        body += f"""\
    # "Other": not one already {VERBS[verb].participle}.
    done = [a.obj for a in recognize_actions(video) if a.verb == {verb!r}]
    candidates = [name for name in candidates if name not in done] or candidates
"""
    return _HEAD + body + _DECIDE


_BUILDERS: dict[str, Callable[[dict[str, str], list[str]], str]] = {
    "Interaction_T1": _interaction_t1,
    "Interaction_T2": _interaction_t2,
    "Interaction_T3": _interaction_t3,
    "Sequence_T1": _sequence(after=True, answer="obj"),
    "Sequence_T2": _sequence(after=False, answer="obj"),
    "Sequence_T3": _sequence(after=True, answer="action"),
    "Sequence_T4": _sequence(after=False, answer="action"),
    "Prediction_T1": _prediction_next,
    "Prediction_T2": _prediction_next,
    "Prediction_T3": _prediction_object,
    "Prediction_T4": _prediction_object,
    "Feasibility_T1": lambda s, names: _feasibility({**s, "other": "1"}, names),
    "Feasibility_T2": _feasibility,
    "Feasibility_T3": _feasibility,
}


class RulePlanner:
    """Plans the embedded world's questions from templates; see the module docstring."""

    name = "rules"

    def plan(self, sample: QASample) -> Plan:
        choices = sample.choice_texts
        digest = hashlib.sha256(json.dumps({"planner": self.name, "question": sample.question, "choices": choices},
                                           ensure_ascii=False).encode()).hexdigest()
        parsed = parse_question(sample.question) if choices else None
        if parsed is None:
            return Plan(program="", planner=self.name, prompt_hash=digest, reply="", error="unsupported question")
        template, slots = parsed
        names = list(dict.fromkeys(choice_object(c) for c in choices))
        program = _BUILDERS[template](slots, names)
        return Plan(program=program, planner=self.name, prompt_hash=digest, reply=template)
