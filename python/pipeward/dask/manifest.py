"""Manifests on Dask: files hashed on the workers, the manifest assembled on the client with
the same walk, entries and Merkle root as ``pw.Manifest.build`` (so the roots are equal).

A local or shared path (or a ``file://`` URL) is walked on the client, exactly as
``Manifest.build`` walks it (links, exclusions), and only the hashing is spread over the
workers, each reading the files itself (the path must be reachable from every worker). Other
``fsspec`` URLs (``s3://``, ``gcs://``, ...) are listed with fsspec and every worker opens its
files through fsspec; object stores have no links, so such a manifest holds files only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dask.delayed import delayed

from ..manifest import Manifest, Verification
from ..manifest.build import build_entries
from ..manifest.entries import Entry
from ..manifest.verify import compare_tree
from ..manifest.walk import Matcher
from ..hashing import Sha256, hash_files_raw
from ._job import Job

__all__ = ["build_manifest", "verify_manifest"]

FILES_PER_TASK = 256
_CHUNK = 4 << 20  # bytes read at a time from an fsspec file


def build_manifest(paths_or_root: str | os.PathLike[str] | Sequence[str], client: Any = None,
                   *, exclude: Sequence[str] = (), follow_symlinks: bool = False,
                   metadata: Mapping[str, str] | None = None, audit: Any = None,
                   storage_options: Mapping[str, Any] | None = None) -> Manifest:
    """``pw.Manifest.build`` with the files hashed on the Dask workers.

    ``paths_or_root``: a directory (path or ``file://`` URL; same walk and root as
    ``Manifest.build``), an fsspec URL of a directory (``s3://bucket/data``), or a list of
    file URLs/paths (named relative to their common directory). ``audit``: one
    ``data.manifest`` record for the job.
    """
    if isinstance(exclude, str):
        raise TypeError("exclude must be a sequence of patterns, got a single str")
    job = Job("manifest.build", client)
    local = _local_path(paths_or_root)
    if local is not None:
        entries = build_entries(local, workers=None, exclude=Matcher(list(exclude)),
                                follow_symlinks=follow_symlinks, cache=None, progress=False,
                                raw=_DaskHasher(job))
        name = os.path.basename(os.path.abspath(local))
    else:
        entries = _remote_entries(job, paths_or_root, Matcher(list(exclude)),
                                  dict(storage_options or {}))
        name = _remote_name(paths_or_root)
    manifest = Manifest(entries, exclude=list(exclude), follow_symlinks=follow_symlinks,
                        metadata=metadata, _checked=True)
    if audit is not None:
        from ..audit.records import record_manifest  # noqa: PLC0415 - audit is optional here

        record_manifest(audit, manifest_root=manifest.root, n_files=len(manifest),
                        total_bytes=sum(e.size for e in manifest.entries), dataset=name or None,
                        job=job.stats.as_record())
    return manifest


def verify_manifest(manifest: Manifest, root: str | os.PathLike[str], client: Any = None, *,
                    audit: Any = None, storage_options: Mapping[str, Any] | None = None
                    ) -> Verification:
    """``manifest.verify(root)`` with the files hashed on the Dask workers: the same
    :class:`pw.Verification` (added, removed, modified, renamed, errors) for a local or
    shared tree; for an fsspec URL, added / removed / modified by size and digest."""
    if not isinstance(manifest, Manifest):
        raise TypeError(f"manifest: expected a pipeward Manifest, got {type(manifest).__name__}")
    job = Job("manifest.verify", client)
    local = _local_path(root)
    if local is not None:
        result = compare_tree(manifest.entries, local, exclude=Matcher(manifest.exclude),
                              follow_symlinks=manifest.follow_symlinks, raw=_DaskHasher(job))
        name = os.path.basename(os.path.abspath(local))
    else:
        found = _remote_entries(job, root, Matcher(manifest.exclude), dict(storage_options or {}))
        result = _compare(manifest.entries, found)
        name = _remote_name(root)
    if audit is not None:
        from ..audit.records import record_manifest  # noqa: PLC0415

        changed = list(result.modified) + [new for _, new in result.renamed]
        record_manifest(audit, manifest_root=manifest.root, n_files=len(manifest),
                        event="verified", ok=result.ok, added=list(result.added),
                        removed=list(result.removed) + [old for old, _ in result.renamed],
                        modified=changed + [path for path, _ in result.errors],
                        dataset=name or None, job=job.stats.as_record())
    return result


# --- local and shared trees: the one-machine walk, hashing on the workers ------------------

class _DaskHasher:
    """``hash_files_raw`` run on the workers, a batch of files per task (one thread each)."""

    def __init__(self, job: Job):
        self.job = job

    def __call__(self, paths: list[bytes], workers: int | None, *, keep_going: bool) -> list:
        if not paths:
            return []
        tasks = [delayed(_hash_local, pure=False)(paths[i:i + FILES_PER_TASK], keep_going)
                 for i in range(0, len(paths), FILES_PER_TASK)]
        self.job.stats.n_partitions += len(tasks)
        self.job.stats.partition_keys += [str(t.key) for t in tasks]
        return [r for batch in self.job.compute(*tasks) for r in batch]


def _hash_local(paths: list[bytes], keep_going: bool) -> list:
    # keep_going on the worker: a failure is reported per file, and the client raises the
    # first one in order (what hash_files_raw without keep_going would have raised).
    return hash_files_raw(paths, 1, keep_going=True)


def _local_path(x: Any) -> str | None:
    if isinstance(x, (bytes, os.PathLike)):
        return os.fsdecode(x)
    if isinstance(x, str):
        if x.startswith("file://"):
            return x[len("file://"):]
        return None if "://" in x else x
    return None


# --- fsspec URLs ----------------------------------------------------------------------------

def _remote_entries(job: Job, target: Any, exclude: Matcher,
                    storage_options: dict[str, Any]) -> list[Entry]:
    import fsspec  # noqa: PLC0415 - part of the dist extra

    if isinstance(target, str):
        fs, base = fsspec.core.url_to_fs(target, **storage_options)
        listing = fs.find(base, detail=True)
        files = sorted(p for p, info in listing.items() if info.get("type") == "file")
        base = base.rstrip("/")
        rel = [p[len(base) + 1:] if p.startswith(base + "/") else os.path.basename(p)
               for p in files]
    elif isinstance(target, Sequence):
        urls = [os.fspath(t) for t in target]
        if not urls:
            raise ValueError("paths_or_root: expected at least one path")
        fs, _ = fsspec.core.url_to_fs(urls[0], **storage_options)
        files = [fsspec.core.url_to_fs(u, **storage_options)[1] for u in urls]
        base = os.path.commonpath([os.path.dirname(p) for p in files])
        rel = [os.path.relpath(p, base).replace(os.sep, "/") for p in files]
    else:
        raise TypeError(f"expected a path, URL or list of them, got {type(target).__name__}")
    keep = [i for i, r in enumerate(rel) if not _excluded(r, exclude)]
    tasks = [delayed(_hash_remote, pure=False)(fs, [files[i] for i in keep[k:k + FILES_PER_TASK]])
             for k in range(0, len(keep), FILES_PER_TASK)]
    job.stats.n_partitions += len(tasks)
    job.stats.partition_keys += [f"{fs.protocol}:{files[i]}" for i in keep]
    hashed = [h for batch in job.compute(*tasks) for h in batch] if tasks else []
    entries = [Entry(rel[i].encode(), "file", size, digest)
               for i, (digest, size) in zip(keep, hashed)]
    for e in entries:
        e.validate()
    return sorted(entries, key=lambda e: e.raw_path)


def _excluded(rel: str, exclude: Matcher) -> bool:
    """Whether the walk would skip this path: any of its directories or the file matches."""
    parts = rel.split("/")
    return any(exclude("/".join(parts[:k + 1]).encode(), parts[k].encode())
               for k in range(len(parts)))


def _hash_remote(fs: Any, paths: list[str]) -> list[tuple[str, int]]:
    out = []
    for path in paths:
        h, size = Sha256(), 0
        with fs.open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
        out.append((h.hexdigest(), size))
    return out


def _remote_name(target: Any) -> str:
    if isinstance(target, str):
        return target.rstrip("/").rsplit("/", 1)[-1]
    return ""


def _compare(expected: Sequence[Entry], found: Sequence[Entry]) -> Verification:
    old = {e.raw_path: e for e in expected}
    new = {e.raw_path: e for e in found}
    modified, reasons = [], {}
    for p in sorted(set(old) & set(new)):
        a, b = old[p], new[p]
        if a.kind != b.kind:
            reasons[p] = f"was a {a.kind}, now a {b.kind}"
        elif a.size != b.size:
            reasons[p] = f"size {a.size} -> {b.size}"
        elif a.digest != b.digest:
            reasons[p] = "content changed"
        if p in reasons:
            modified.append(p)
    dec = os.fsdecode
    return Verification(added=tuple(dec(p) for p in sorted(set(new) - set(old))),
                        removed=tuple(dec(p) for p in sorted(set(old) - set(new))),
                        modified=tuple(dec(p) for p in modified),
                        reasons={dec(p): r for p, r in reasons.items()}, checked=len(old))
