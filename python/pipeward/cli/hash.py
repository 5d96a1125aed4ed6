"""``pipeward hash FILE...``: SHA-256 digests in ``sha256sum``'s output format."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import IO, Any

from . import EXIT_OK, EXIT_USAGE

# Below this much data a progress bar would only flicker.
PROGRESS_MIN_BYTES = 256 * 1024 * 1024
STDIN_CHUNK = 1024 * 1024


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hash",
        help="print SHA-256 digests of files, like sha256sum",
        description="Print the SHA-256 digest of each FILE in sha256sum's format "
        "('DIGEST  NAME'; names holding a backslash, newline or carriage return are escaped "
        "and the line starts with a backslash, as GNU does). '-' reads standard input. Files "
        "are hashed in parallel; a progress bar shows on a terminal for long jobs.",
        epilog="example: pipeward hash data/*.parquet model.safetensors > SHA256SUMS",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="files to hash ('-' for stdin)")
    p.add_argument("-w", "--workers", type=int, default=None,
                   help="threads hashing files at once (default: all cores)")
    p.add_argument("-o", "--output", metavar="PATH", help="write the digests here, not stdout")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {path, sha256, size} (or {path, error})")
    p.add_argument("--allow-special", action="store_true",
                   help="also read FIFOs and devices (refused by default: one with no writer, "
                        "or without end, would never finish; Ctrl-C stops it)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def escape_name(name: bytes) -> tuple[bytes, bool]:
    """GNU coreutils' escaping of a file name in a checksum line: backslash, newline and
    carriage return become ``\\\\``, ``\\n``, ``\\r``; the flag says the line needs a leading
    backslash."""
    if not any(c in name for c in (b"\\", b"\n", b"\r")):
        return name, False
    escaped = name.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return escaped, True


def checksum_line(hexdigest: str, name: bytes) -> bytes:
    escaped, flagged = escape_name(name)
    return (b"\\" if flagged else b"") + hexdigest.encode() + b"  " + escaped + b"\n"


def hash_stdin() -> tuple[str, int]:
    from ..hashing import Sha256  # noqa: PLC0415

    hasher = Sha256()
    stream = sys.stdin.buffer
    buf = bytearray(STDIN_CHUNK)
    view = memoryview(buf)
    total = 0
    while n := stream.readinto(buf):
        hasher.update(view[:n])
        total += n
    return hasher.hexdigest(), total


def _total_size(paths: list[str]) -> int:
    total = 0
    for p in paths:
        try:
            total += os.stat(p).st_size
        except OSError:
            pass  # reported when it is hashed
    return total


def _hash_all(paths: list[str], workers: int | None, show: bool, allow_special: bool) -> list[Any]:
    """Hash on a worker thread (Ctrl-C cancels it, even a FIFO waiting for a writer), drawing
    a bar on stderr for long jobs."""
    from ..hashing import hash_files_raw, interruptible  # noqa: PLC0415

    from .._progress import ProgressBar  # noqa: PLC0415

    total = _total_size(paths) if show else 0
    bar = ProgressBar(total, "hashing", len(paths)) if show and total >= PROGRESS_MIN_BYTES else None
    try:
        return interruptible(lambda progress: hash_files_raw(
            paths, workers, progress=progress, keep_going=True, allow_special=allow_special),
            tick=(lambda p: bar(p.bytes_done, files_done=p.files_done)) if bar else None)
    finally:
        if bar:
            bar.close()


def run(args: argparse.Namespace) -> int:
    from ..hashing import first_failure  # noqa: PLC0415
    from . import CLIError  # noqa: PLC0415

    if args.workers is not None and args.workers <= 0:
        raise CLIError(f"--workers must be a positive integer, got {args.workers}")
    names: list[str] = args.files
    file_names = [n for n in names if n != "-"]
    show = not args.quiet and sys.stderr.isatty()
    results = iter(_hash_all(file_names, args.workers, show, args.allow_special))

    records: list[dict[str, Any]] = []
    failed = False
    for name in names:
        if name == "-":
            digest, size = hash_stdin()
            records.append({"path": name, "sha256": digest, "size": size})
            continue
        raw = next(results)
        error = first_failure([name], [raw])
        if error is not None:
            failed = True
            print(f"pipeward hash: {name}: {error.strerror}", file=sys.stderr)
            records.append({"path": name, "error": error.strerror, "errno": error.errno})
        else:
            records.append({"path": name, "sha256": raw[0].hex(), "size": raw[1]})

    out: IO[bytes]
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        if args.json:
            out.write(json.dumps(records, indent=2).encode() + b"\n")
        else:
            for rec in records:
                if "sha256" in rec:
                    out.write(checksum_line(rec["sha256"], os.fsencode(rec["path"])))
        out.flush()
    finally:
        if args.output:
            out.close()
    return EXIT_USAGE if failed else EXIT_OK
