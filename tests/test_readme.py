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


def _python_blocks(path: Path) -> list[str]:
    blocks, current, inside = [], [], False
    for line in path.read_text().splitlines():
        if line.strip().startswith("```"):
            if inside:
                blocks.append("\n".join(current))
                current, inside = [], False
            elif line.strip() == "```python":
                inside = True
            continue
        if inside:
            current.append(line)
    return blocks


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = [(doc, i, code) for doc in DOCS if doc.exists() for i, code in enumerate(_python_blocks(doc))]


@pytest.mark.parametrize(("doc", "index", "code"), EXAMPLES,
                         ids=[f"{d.name}-{i}" for d, i, _ in EXAMPLES])
def test_documented_python_examples_run(doc, index, code, tmp_path, monkeypatch):
    """Every ```python block in the README and docs/ runs as written, in a scratch folder."""
    if "import torch" in code:
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{doc.name}[{index}]", "exec"), {"__name__": "__readme__"})
