"""AoTD: Agent-of-Thoughts Distillation for Video-LLMs.

Four steps (select, agent, cot, distill) plus evaluation, each reading the previous
stage's JSONL records. See README.md for the layout.
"""

__version__ = "0.1.0"
