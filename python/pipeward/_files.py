"""Files written so that nothing already on disk is followed, kept or clobbered by accident."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["write_new_file"]


def write_new_file(path: str | os.PathLike[str], data: bytes, mode: int, *,
                   overwrite: bool = False) -> None:
    """Write ``data`` to a fresh file beside ``path`` (``O_CREAT|O_EXCL|O_NOFOLLOW`` at ``mode``,
    synced) and move it to ``path``. With ``overwrite`` whatever is at ``path`` is replaced (a
    symbolic link itself, never its target); without, anything there is a ``FileExistsError``.
    Either way ``path`` ends up a new file with exactly ``mode``, or is left as it was."""
    target = Path(os.fspath(path))
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # exactly this mode, whatever the umask allowed
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target, follow_symlinks=False)  # fails if anything is at target
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
