"""Run the ``pipeward`` CLI as on the core install, where pandas and pyarrow are missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NO_PANDAS = ("import sys; sys.modules['pandas'] = None; sys.modules['pyarrow'] = None; "
             "from pipeward.cli import main; sys.exit(main(sys.argv[1:]))")


def cli_without_pandas(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``pipeward`` as on the core install: pandas and pyarrow cannot be imported."""
    return subprocess.run([sys.executable, "-c", NO_PANDAS, *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)
