"""README.md's test command is what CI runs, verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_test_command() -> str:
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [ln.strip() for ln in lines if 'pip install ".[test]"' in ln and "pytest" in ln]
    assert len(commands) == 1, "README.md must show exactly one test command"
    return commands[0]


@pytest.mark.skipif(not (ROOT / ".ci" / "run").exists(), reason="not run from a checkout")
def test_ci_runs_the_readme_test_command():
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert _readme_test_command() in ci_lines
