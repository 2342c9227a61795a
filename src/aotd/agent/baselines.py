"""A planner that does not decompose: one one-hop QA call on the whole question.

It is step 1's lower bound for question decomposition — what the agent scores when the
question is not broken into tool steps at all — and a sanity check for the QA tool.
"""

from __future__ import annotations

import hashlib

from aotd.data.records import Plan
from aotd.data.schema import QASample

ONE_HOP = '''def execute_command(video, question, choices):
    return query(video, question, choices)
'''


class OneHopPlanner:
    name = "one-hop"

    def plan(self, sample: QASample) -> Plan:
        return Plan(program=ONE_HOP, planner=self.name, prompt_hash=hashlib.sha256(ONE_HOP.encode()).hexdigest(),
                    reply="")
