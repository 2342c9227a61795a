"""Turn simulated frame states into STAR situations (scene graphs at key frames).

Boxes come from what the renderer drew in that very frame (``Renderer.frame``), relations
and actions from the simulator's state, ids from the world's class files.
"""

from __future__ import annotations

from aotd.data.schema import Situation
from aotd.embedded.world.render import Box, object_box
from aotd.embedded.world.simulate import FrameState
from aotd.embedded.world.vocab import OBJECTS, PERSON, object_id, relationship_id

NEXT_TO_PX = 28.0


def situation(state: FrameState, boxes: dict[str, Box]) -> Situation:
    """The STAR situation of one frame; ``boxes`` are the objects' drawn boxes in that frame."""
    person = object_id(PERSON)
    table = object_id("table")
    labels, bbox = [], []
    for name, box in sorted(boxes.items()):
        labels.append(table if name.startswith("table#") else object_id(name))
        bbox.append(list(box))
    pairs: list[list[str]] = []
    rels: list[str] = []

    def rel(a: str, b: str, r: str) -> None:
        pairs.append([a, b])
        rels.append(relationship_id(r))

    px = state.person.x
    for name in sorted(state.objects):
        o = state.objects[name]
        if o.mode == "gone" or name not in boxes:
            continue
        oid = object_id(name)
        if state.holding == name:
            rel(person, oid, "holding")
        if state.touching == name:
            rel(person, oid, "touching")
        if state.looking_at == name:
            rel(person, oid, "looking_at")
        cls = OBJECTS[name]
        scene_box = object_box(o)
        if cls.fixed and scene_box is not None and scene_box[0] <= px <= scene_box[2]:
            rel(person, oid, "in_front_of")
        elif o.mode == "rest" and abs(o.x - px) < NEXT_TO_PX:
            rel(person, oid, "next_to")
        if o.mode == "rest" and o.support.startswith("table"):
            rel(oid, table, "on")
    return Situation(
        frame=state.index,
        actions=list(state.actions),
        bbox=bbox,
        bbox_labels=labels,
        rel_pairs=pairs,
        rel_labels=rels,
    )

