"""The agent-vs-student GPU benchmark: its published shapes, and a whole run on tiny configs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "agent_vs_student_gpu.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agent_vs_student_gpu", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "billions"), [("DEEPSEEK_CODER_6_7B", 6.74), ("LLAMA_3_1_8B", 8.03)])
def test_llm_shapes_match_the_published_models(bench: ModuleType, name: str, billions: float) -> None:
    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**getattr(bench, name)))
    assert bench.count(model) / 1e9 == pytest.approx(billions, abs=0.01)


def test_without_a_gpu_it_says_so(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert bench.main(["--questions", "1"]) == 2
    assert "no GPU" in capsys.readouterr().err


@pytest.mark.slow
def test_the_whole_benchmark_runs_on_tiny_configs(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--tiny", "--questions", "2", "--plan-prompt-tokens", "32", "--plan-tokens", "4", "--trace-tokens", "32",
            "--rationale-tokens", "6", "--tool-tokens", "3", "--answer-tokens", "2"]
    assert bench.main(argv) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert '"programs_ok": 2' in out  # the rule programs ran over the real adapters in the sandbox
    for row in ("| agent |", "| cot (convert + verify) |", "| student (answer, 2 tokens) |",
                "| student (rationale, 6 tokens) |"):
        assert row in out
    assert "error" not in out
