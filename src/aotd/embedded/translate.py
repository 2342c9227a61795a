"""STAR ``question_program`` -> a tool program over the API: the reference decompositions.

Step 1 scores a planner by how close its programs come to these. Each STAR operator maps onto
what the tools can observe:

* ``Situations`` is the clip; ``Filter_Situations_with_Obj`` trims it to the frames where
  ``find_object`` sees the object (all of it when never, as STAR returns all situations);
  ``Filter_Situations_with_Rel`` grounds the relation as an action ("holding the cup") with
  ``find_action`` and trims to it, joined with an object filter that follows it.
* ``Actions`` are ``recognize_actions`` in time order (windowed actions, sorted by start);
  ``Filter_After/Before_Actions`` keep the actions starting after the anchor ends / ending
  before it starts; the short form (no action list pushed) uses the whole clip's actions.
* ``Objs`` are the candidate objects (named in the choices, or a vocabulary passed in) that
  ``exists`` finds; ``Filter_Objs_by_Verb`` keeps those the class files pair with the verb.
* ``Unique`` / ``Query_Earliest_Action`` take the first, ``Query_Latest_Action`` the last;
  ``Query_Objs`` / ``Query_Verbs`` read ``.obj`` / ``.verb``; ``Query_Actions`` keeps the action.
* ``Except``, ``Union``, ``Belong_to``, ``Equal`` are list and text operations.

The program ends with ``return choose(choices, answer)``, or ``query`` when nothing was found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aotd.data.schema import ProgramStep
from aotd.data.star_classes import StarClasses
from aotd.embedded.rule_planner import choice_object
from aotd.embedded.world.vocab import world_classes
from aotd.errors import AotdError


class TranslateError(AotdError):
    """A STAR program with an operator or a shape that has no tool counterpart."""


# operator -> (values popped, literals a step writes); as in aotd.data.star_program
_ARITY: dict[str, tuple[int, int]] = {
    "Situations": (0, 0), "Actions": (1, 0), "Objs": (1, 0),
    "Filter_Actions_with_Verb": (2, 1), "Filter_Actions_with_Obj": (2, 1),
    "Filter_After_Actions": (2, 0), "Filter_Before_Actions": (2, 0),
    "Filter_Situations_with_Rel": (2, 1), "Filter_Situations_with_Obj": (2, 1), "Filter_Objs_by_Verb": (2, 1),
    "Unique": (1, 0), "Query_Objs": (1, 0), "Query_Verbs": (1, 0), "Query_Actions": (1, 0),
    "Query_Earliest_Action": (1, 0), "Query_Latest_Action": (1, 0),
    "Except": (2, 0), "Union": (2, 0), "Belong_to": (2, 1), "Equal": (2, 1),
}
_LIST_KINDS = {"actions": "action", "names": "name", "items": "item"}  # list kind -> element kind

_HELPERS = {
    "actions_in": '''
def actions_in(clip):
    # Recognised actions in time order, as STAR lists them.
    acts = [a for a in recognize_actions(clip) if a.window is not None]
    return sorted(acts, key=lambda a: a.window.start)''',
    "actions_after": '''
def actions_after(acts, anchor):
    # The actions that start after the anchor action ends.
    if anchor is None:
        return []
    return [a for a in acts if a.window.start > anchor.window.end]''',
    "actions_before": '''
def actions_before(acts, anchor):
    # The actions that end before the anchor action starts.
    if anchor is None:
        return []
    return [a for a in acts if a.window.end < anchor.window.start]''',
    "frames_with": '''
def frames_with(clip, name):
    # The frames where the object is visible; the whole clip when it never is.
    frames = find_object(clip, name)
    return trim(clip, frames[0], frames[-1]) if frames else clip''',
    "while_relation": '''
def while_relation(clip, relation, name):
    # The frames where the person is in the relation (with the object), grounded as an action.
    phrase = relation.replace("_", " ") + (" the " + name if name else "")
    window = find_action(clip, phrase)
    if window is not None:
        return trim(clip, window.start, window.end)
    return frames_with(clip, name) if name else clip''',
    "objects_in": '''
def objects_in(clip):
    # The candidate objects the detector finds in the clip.
    return [name for name in CANDIDATES if exists(clip, name)]''',
    "text_of": '''
def text_of(x):
    # Comparable text of an object name, a verb, an action or a (verb, object) pair.
    if isinstance(x, (tuple, list)):
        return " ".join(text_of(v) for v in x)
    if isinstance(x, str):
        return x.lower().strip(" .")
    return x.text''',
}
_NEEDS = {"while_relation": ("frames_with",)}


@dataclass
class _Value:
    kind: str  # clip | actions | action | names | name | items | item | verdict | literal
    expr: str  # a variable name, or a Python literal for kind "literal"
    literal: Any = None


@dataclass
class _Builder:
    lines: list[str] = field(default_factory=list)
    helpers: set[str] = field(default_factory=set)
    done: dict[str, _Value] = field(default_factory=dict)  # expression -> its variable: tools are not re-run
    count: int = 0

    def emit(self, kind: str, expr: str, comment: str | None = None) -> _Value:
        if expr in self.done:
            return self.done[expr]
        self.count += 1
        name = {"clip": "clip", "actions": "acts", "action": "act", "names": "names", "name": "name",
                "items": "items", "item": "item", "verdict": "verdict"}[kind] + str(self.count)
        if comment:
            self.lines.append(f"# {comment}")
        self.lines.append(f"{name} = {expr}")
        self.done[expr] = _Value(kind, name)
        return self.done[expr]

    def use(self, helper: str) -> str:
        self.helpers.add(helper)
        self.helpers.update(_NEEDS.get(helper, ()))
        return helper


def translate_star_program(steps: Sequence[ProgramStep | Mapping[str, Any]], choices: Sequence[str], *,
                           objects: Sequence[str] | None = None, classes: StarClasses | None = None) -> str:
    """The tool program equivalent to a STAR question program (see the module docstring).

    ``objects`` are the names ``Objs`` looks for (default: the objects the choices name);
    ``classes`` give ``Filter_Objs_by_Verb`` its verb-object pairs (default: the world's).
    """
    classes = classes or world_classes()
    parsed = [s if isinstance(s, ProgramStep) else ProgramStep(**s) for s in steps]
    b = _Builder()
    stack: list[_Value] = []
    i = 0
    while i < len(parsed):
        step = parsed[i]
        if step.function not in _ARITY:
            raise TranslateError(f"step {i}: unknown operator {step.function!r}; known: {', '.join(sorted(_ARITY))}")
        arity, count = _ARITY[step.function]
        stack.extend(_Value("literal", repr(v), v) for v in _literals(step.value_input, count))
        if step.function in ("Filter_After_Actions", "Filter_Before_Actions") and len(stack) == 1:
            stack.insert(0, b.emit("actions", f"{b.use('actions_in')}(video)", "the short form: all actions"))
        if len(stack) < arity:
            raise TranslateError(f"step {i}: {step.function} needs {arity} values, the stack holds {len(stack)}")
        args = stack[len(stack) - arity:] if arity else []
        del stack[len(stack) - arity:]
        nxt = parsed[i + 1] if i + 1 < len(parsed) else None
        joined = (step.function == "Filter_Situations_with_Rel" and nxt is not None
                  and nxt.function == "Filter_Situations_with_Obj" and len(nxt.value_input) == 1)
        if joined:
            assert nxt is not None
            clip, rel = args
            value = b.emit("clip", f"{b.use('while_relation')}({_expect(clip, 'clip', i).expr}, {rel.expr}, "
                                   f"{nxt.value_input[0]!r})")
            i += 1
        else:
            value = _translate(step.function, args, b, i, choices, objects, classes)
        stack.append(value)
        i += 1
    if not stack:
        raise TranslateError("the program is empty")
    return _program(stack[-1], b, choices, objects)


def _literals(values: list[Any], count: int) -> list[Any]:
    if count and len(values) > count:
        return [*values[: count - 1], tuple(values[count - 1:])]
    return list(values)


def _expect(value: _Value, kinds: str, step: int) -> _Value:
    if value.kind not in kinds.split("|"):
        raise TranslateError(f"step {step}: expected {kinds.replace('|', ' or ')}, got {value.kind}")
    return value


def _as_list(value: _Value) -> str:
    if value.kind in _LIST_KINDS:
        return value.expr
    return f"([{value.expr}] if {value.expr} is not None else [])"


def _translate(fn: str, args: list[_Value], b: _Builder, step: int, choices: Sequence[str],
               objects: Sequence[str] | None, classes: StarClasses) -> _Value:
    if fn == "Situations":
        return _Value("clip", "video")
    if fn == "Actions":
        return b.emit("actions", f"{b.use('actions_in')}({_expect(args[0], 'clip', step).expr})")
    if fn == "Objs":
        return b.emit("names", f"{b.use('objects_in')}({_expect(args[0], 'clip', step).expr})")
    if fn in ("Filter_Actions_with_Verb", "Filter_Actions_with_Obj"):
        acts, wanted = _expect(args[0], "actions", step), args[1]
        attr = "verb" if fn.endswith("Verb") else "obj"
        return b.emit("actions", f"[a for a in {acts.expr} if a.{attr} == {wanted.expr}]")
    if fn in ("Filter_After_Actions", "Filter_Before_Actions"):
        acts, anchor = _expect(args[0], "actions", step), _expect(args[1], "action", step)
        helper = b.use("actions_after" if fn == "Filter_After_Actions" else "actions_before")
        return b.emit("actions", f"{helper}({acts.expr}, {anchor.expr})")
    if fn == "Filter_Situations_with_Obj":
        return b.emit("clip", f"{b.use('frames_with')}({_expect(args[0], 'clip', step).expr}, {args[1].expr})")
    if fn == "Filter_Situations_with_Rel":
        return b.emit("clip", f"{b.use('while_relation')}({_expect(args[0], 'clip', step).expr}, {args[1].expr}, None)")
    if fn == "Filter_Objs_by_Verb":
        verb = args[1].literal
        able = sorted(classes.objects_for_verb(verb))
        if not able:
            raise TranslateError(f"step {step}: no object goes with the verb {verb!r} in the class files")
        names = _expect(args[0], "names", step)
        return b.emit("names", f"[o for o in {names.expr} if o in {able!r}]", f"the objects that go with {verb!r} (the class files' action space)")
    if fn in ("Unique", "Query_Earliest_Action", "Query_Latest_Action"):
        items = _expect(args[0], "|".join(_LIST_KINDS), step)
        index = "-1" if fn == "Query_Latest_Action" else "0"
        return b.emit(_LIST_KINDS[items.kind], f"{items.expr}[{index}] if {items.expr} else None")
    if fn in ("Query_Objs", "Query_Verbs"):
        attr = "obj" if fn == "Query_Objs" else "verb"
        value = _expect(args[0], "action|actions", step)
        if value.kind == "actions":
            return b.emit("names", f"[a.{attr} for a in {value.expr}]")
        return b.emit("name", f"{value.expr}.{attr} if {value.expr} is not None else None")
    if fn == "Query_Actions":
        return _expect(args[0], "action|actions", step)
    if fn == "Except":
        group, drop = _expect(args[0], "|".join(_LIST_KINDS), step), args[1]
        return b.emit(group.kind, f"[x for x in {group.expr} if x not in {_as_list(drop)}]")
    if fn == "Union":
        a, c = args
        kind = a.kind if a.kind == c.kind and a.kind in _LIST_KINDS else "items"
        return b.emit(kind, f"{_as_list(a)} + {_as_list(c)}")
    if fn == "Belong_to":
        group, item = args
        text = b.use("text_of")
        return b.emit("verdict", f"'Correct' if {text}({item.expr}) in [{text}(x) for x in {_as_list(group)}] else 'Wrong'")
    if fn == "Equal":
        a, c = args
        text = b.use("text_of")
        return b.emit("verdict", f"'Correct' if {a.expr} is not None and {text}({a.expr}) == {text}({c.expr}) else 'Wrong'")
    raise TranslateError(f"step {step}: {fn} has no tool counterpart")  # pragma: no cover - _ARITY guards


def _program(answer: _Value, b: _Builder, choices: Sequence[str], objects: Sequence[str] | None) -> str:
    if answer.kind in ("clip", "literal"):
        raise TranslateError(f"the program ends in {'situations' if answer.kind == 'clip' else 'a literal'}, not an answer")
    empty = f"not {answer.expr}" if answer.kind in _LIST_KINDS else f"{answer.expr} is None"
    body = [*b.lines, f"if {empty}:", "    return query(video, question, choices)",
            f"return choose(choices, {answer.expr})"]
    parts: list[str] = []
    if "objects_in" in b.helpers:
        names = list(objects) if objects is not None else list(dict.fromkeys(choice_object(c) for c in choices))
        parts.append(f"CANDIDATES = {names!r}")
    parts.extend(_HELPERS[name].strip() for name in _HELPERS if name in b.helpers)
    parts.append("def execute_command(video, question, choices):\n" + "\n".join(f"    {line}" for line in body))
    return "\n\n".join(parts) + "\n"
