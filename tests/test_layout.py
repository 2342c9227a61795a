"""The tests mirror the package layout, and the architecture page names every layer."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "aotd"


def test_each_test_folder_mirrors_a_package() -> None:
    folders = {p.parent.relative_to(ROOT / "tests") for p in (ROOT / "tests").rglob("test_*.py")}
    for folder in sorted(folders - {Path()}):
        assert (PACKAGE / folder / "__init__.py").is_file(), f"tests/{folder}/ mirrors no package aotd/{folder}"


def test_the_architecture_page_names_every_layer_of_the_contract() -> None:
    contract = (ROOT / "pyproject.toml").read_text().split("[[tool.importlinter.contracts]]")[1]
    layers = {name.removeprefix("aotd.") for line in re.findall(r'^\s+"(aotd\.[^"]+)",?$', contract, re.M)
              for name in line.split(" | ")}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert layers == modules, f"layers without a module: {layers - modules}; modules in no layer: {modules - layers}"
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    diagram = page.split("```")[1]
    named = {word for line in diagram.splitlines() for word in line.split("  ")[0].strip().split(" | ")}
    assert layers <= named, f"docs/ARCHITECTURE.md's diagram lacks {layers - named}"
