"""The README's map of the code names every folder and module outside the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def map_entries() -> set[str]:
    """The first word of each line of the code block under ``## Map of the code``."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = text.split("## Map of the code", 1)[1].split("```", 2)[1]
    return {line.split()[0] for line in block.splitlines() if line.strip()}


def tracked() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return listing.stdout.split()


def test_map_names_every_folder() -> None:
    folders = {f"{path.split('/', 1)[0]}/" for path in tracked() if "/" in path}
    missing = {f for f in folders if f not in map_entries()}
    assert not missing, f"README's map of the code lacks {sorted(missing)}"


def test_map_names_every_module_outside_the_tests() -> None:
    modules = {
        path
        for path in tracked()
        if path.endswith(".py")
        and not Path(path).name.startswith("test_")
        and Path(path).name != "__init__.py"
    }
    missing = modules - map_entries()
    assert not missing, f"README's map of the code lacks {sorted(missing)}"
