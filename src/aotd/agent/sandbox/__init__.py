"""The sandbox that runs planner-written programs over the vision tools.

A planner's ``def execute_command(video, question, choices): ...`` is hostile input. It is parsed
and checked (``validate``), then evaluated node by node by an interpreter (``interpreter``) that
offers only allowlisted names, attributes and builtins and counts every operation against
``Limits``; ``run_program`` additionally runs it in a worker process that is capped in memory and
killed at the deadline (``process``). Every tool call is traced (``trace``).
"""

from .limits import Limits
from .process import run_in_process, run_program
from .trace import SandboxErrorInfo, SandboxResult, ToolCall

__all__ = ["Limits", "SandboxErrorInfo", "SandboxResult", "ToolCall", "run_in_process", "run_program"]
