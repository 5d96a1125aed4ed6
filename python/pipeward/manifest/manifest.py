"""``Manifest``: the entries of a tree, their RFC 6962 Merkle root, an optional Ed25519
signature, and the JSON file that carries them.

JSON layout (version 1)::

    {"format": "pipeward-manifest", "version": 1, "hash": "sha256", "tree": "rfc6962",
     "root": <hex>, "tree_size": <entries>, "created": "YYYY-MM-DDTHH:MM:SSZ",
     "options": {"exclude": [...], "follow_symlinks": false}, "metadata": {str: str},
     "base": <the tree's folder relative to the manifest file's, POSIX>,   # optional
     "entries": [{"path" | "path_b64", "type": "file", "size", "sha256"} |
                 {"path" | "path_b64", "type": "link", "target" | "target_b64"}, ...],
     "signature": {"algorithm": "ed25519", "key_id": <hex>, "value": <base64>}}   # optional

The signature covers ``b"pipeward-manifest-signature-v1\\n"`` followed by the header: every
field above except ``entries`` and ``signature``, as JSON with sorted keys, no whitespace and
ASCII escapes (``json.dumps(h, sort_keys=True, separators=(",", ":"))``). The root binds the
entries, so the signature binds the whole manifest. On load the root is recomputed from the
entries and must equal the stored one. ``base`` (absent from manifests written before it
existed, whose signatures therefore still verify) lets ``verify()`` find the tree without
being told where it is; being in the header, it is signed too.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import signing
from .._progress import ProgressArg
from ..merkle import inclusion_proof as _merkle_inclusion_proof
from ..merkle import leaf_hash, merkle_root
from ..merkle import verify_inclusion as _merkle_verify_inclusion
from .build import build_entries, digest_files
from .cache import HashCache
from .checkfile import format_checkfile
from .entries import Entry, ManifestError, leaf_hashes
from .verify import Verification, compare_tree
from .walk import Found, Matcher, exact_pattern, relative_inside

if TYPE_CHECKING:
    from ..audit import AuditLog
    from ..trust import SignatureCheck, TrustStore

__all__ = ["InclusionProof", "Manifest", "verify_inclusion"]

log = logging.getLogger("pipeward.manifest")

FORMAT = "pipeward-manifest"
VERSION = 1
SIGNATURE_CONTEXT = b"pipeward-manifest-signature-v1\n"
_HEADER_KEYS = ("format", "version", "hash", "tree", "root", "tree_size", "created", "options",
                "metadata")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must map str to str, got {k!r}: {v!r}")
    return dict(metadata)


class Manifest:
    """The sorted entries of a directory tree with their Merkle root.

    Build one with :meth:`build`, read one with :meth:`load`. ``m.root`` is the hex RFC 6962
    root over the entries' canonical bytes (see ``pipeward.manifest.entries``).
    """

    def __init__(self, entries: Iterable[Entry], *, exclude: Sequence[str] = (),
                 follow_symlinks: bool = False, metadata: Mapping[str, str] | None = None,
                 created: str | None = None, plaintext: Iterable[Any] = (),
                 _checked: bool = False) -> None:
        entries = list(entries)
        if not _checked:  # entries from build() or load() were checked already
            for e in entries:
                if not isinstance(e, Entry):
                    raise TypeError(f"expected Entry objects, got {type(e).__name__}")
                try:
                    e.validate()
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"entry {e.raw_path!r}: {exc}") from None
        ordered = sorted(entries, key=lambda e: e.raw_path)
        for a, b in zip(ordered, ordered[1:]):
            if a.raw_path == b.raw_path:
                raise ValueError(f"duplicate entry {a.path!r}")
        self._entries = tuple(ordered)
        self._paths = [e.raw_path for e in self._entries]
        self._leaves = leaf_hashes(self._entries)
        self.root: str = merkle_root(self._leaves).hex()
        self.exclude: tuple[str, ...] = tuple(Matcher(exclude).patterns)
        self.follow_symlinks = bool(follow_symlinks)
        self.metadata: dict[str, str] = _check_metadata(metadata)
        self.created = created or _utc_now()
        self.signature: dict[str, str] | None = None
        # Encrypted trees (build(decrypt_with=...)): the decrypted size and SHA-256 of each
        # encrypted file, signed with the header (pipeward.protect.PlaintextDigest records).
        self.plaintext: tuple[Any, ...] = tuple(sorted(plaintext))
        # Where the tree lies relative to the manifest file's folder (see locate()), and where
        # this manifest was built from / loaded from, to resolve it.
        self.base: str | None = None
        self.path: Path | None = None
        self._built_from: Path | None = None

    # ----------------------------------------------------------------------------- building
    @classmethod
    def build(cls, root: str | os.PathLike[str], *, workers: int | None = None,
              exclude: Sequence[str] = (), follow_symlinks: bool = False,
              progress: ProgressArg = False,
              cache: str | os.PathLike[str] | None = None,
              metadata: Mapping[str, str] | None = None, audit: AuditLog | None = None,
              decrypt_with: Any = None) -> Manifest:
        """Walk ``root`` and hash every regular file in parallel.

        Symbolic links are recorded as links (their target string) unless ``follow_symlinks``;
        special files are skipped with a ``ManifestWarning``; ``exclude`` takes ``fnmatch``
        patterns (with a ``/``: the relative path, without: any name). ``cache`` names a digest
        cache file for incremental re-builds (excluded from the tree if it lies inside it).
        An unreadable file or directory, or a file that changes while it is hashed, raises
        ``OSError`` naming the path. With ``decrypt_with`` (age identities), age-encrypted
        files are also decrypted in the same read: the entries keep the ciphertext digests (so
        :meth:`verify` needs no key) and :attr:`plaintext` records the decrypted digests.
        ``progress`` is True for a bar on stderr (on a terminal) or a callable called with
        ``(bytes_hashed, bytes_total)``; the ``pipeward.manifest`` logger records the job.
        """
        started = time.monotonic()
        log.info("manifest build: hashing the tree under %s", os.fsdecode(os.fspath(root)))
        if isinstance(exclude, str):
            raise TypeError("exclude must be a sequence of patterns, got a single str")
        exclude = list(exclude)
        hash_cache = None
        if cache is not None:
            hash_cache = HashCache(cache)
            inside = relative_inside(cache, root)
            if inside is not None:
                exclude.append(exact_pattern(inside))
        plaintext: list[Any] = []
        if decrypt_with is not None:
            from ..protect.manifest_digests import build_encrypted_entries  # noqa: PLC0415

            if cache is not None:
                raise ValueError("cache= cannot be combined with decrypt_with=: the plaintext "
                                 "digests need every encrypted file read")

            entries, plaintext = build_encrypted_entries(root, decrypt_with, workers=workers,
                                                         exclude=Matcher(exclude),
                                                         follow_symlinks=follow_symlinks)
        else:
            entries = build_entries(root, workers=workers, exclude=Matcher(exclude),
                                    follow_symlinks=follow_symlinks, cache=hash_cache,
                                    progress=progress)
        manifest = cls(entries, exclude=exclude, follow_symlinks=follow_symlinks,
                       metadata=metadata, plaintext=plaintext, _checked=True)
        manifest._built_from = Path(os.fsdecode(os.fspath(root))).absolute()
        seconds = time.monotonic() - started
        size = sum(e.size for e in manifest.entries if e.kind == "file")
        log.info("manifest build: %d entries, %d bytes in %.2f s (%.2f GB/s), root %s",
                 len(manifest), size, seconds, size / seconds / 1e9 if seconds else 0.0,
                 manifest.root)
        if audit is not None:
            from ..audit.records import record_manifest  # noqa: PLC0415 - audit is optional here

            record_manifest(audit, manifest_root=manifest.root, n_files=len(manifest),
                            total_bytes=sum(e.size for e in manifest.entries),
                            dataset=os.fsdecode(os.path.basename(os.path.abspath(root))))
        return manifest

    # ------------------------------------------------------------------------------ access
    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def _index(self, path: str | bytes | os.PathLike[str]) -> int:
        raw = os.fsencode(path)
        i = bisect.bisect_left(self._paths, raw)
        if i == len(self._paths) or self._paths[i] != raw:
            raise KeyError(os.fsdecode(raw))
        return i

    def __getitem__(self, path: str | bytes | os.PathLike[str]) -> Entry:
        return self._entries[self._index(path)]

    def __contains__(self, path: object) -> bool:
        try:
            self._index(path)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Manifest({len(self)} entries, root={self.root[:16]}..., signed={self.signature is not None})"

    # ------------------------------------------------------------------------ serialising
    def header(self) -> dict[str, Any]:
        """The signed fields (everything but the entries and the signature)."""
        return {"format": FORMAT, "version": VERSION, "hash": "sha256", "tree": "rfc6962",
                "root": self.root, "tree_size": len(self), "created": self.created,
                "options": {"exclude": list(self.exclude), "follow_symlinks": self.follow_symlinks},
                "metadata": dict(self.metadata)} | (
                    {"plaintext": [p.to_dict() for p in self.plaintext]} if self.plaintext else {}
                ) | ({"base": self.base} if self.base is not None else {})

    def to_dict(self) -> dict[str, Any]:
        out = self.header()
        out["entries"] = [e.to_dict() for e in self._entries]
        if self.signature is not None:
            out["signature"] = dict(self.signature)
        return out

    def locate(self, manifest_path: str | os.PathLike[str]) -> str:
        """Record where the tree this manifest was built from lies relative to the file it will be
        saved as (``base``, signed with the header), so that ``verify()`` and ``pipeward
        manifest verify`` find it from anywhere. :meth:`save` does this itself for an unsigned
        manifest; call it before :meth:`sign` to have the location signed."""
        if self._built_from is None:
            raise ValueError("only a manifest made by Manifest.build() knows where its tree is")
        if self.signature is not None:
            raise ValueError("the manifest is signed already: locate() before sign(), or the "
                             "signature would not cover the location")
        folder = Path(os.fspath(manifest_path)).absolute().parent
        self.base = Path(os.path.relpath(self._built_from, folder)).as_posix()
        return self.base

    def tree(self) -> Path | None:
        """The tree's directory, from ``base`` and the file the manifest was loaded from or
        saved to; None when either is unknown (a manifest written before ``base`` existed)."""
        if self.base is None or self.path is None:
            return None
        return self.path.parent / self.base

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the manifest as JSON (UTF-8), recording the tree's location first when the
        manifest is unsigned and was built here (see :meth:`locate`)."""
        if self._built_from is not None and self.signature is None:
            self.locate(path)  # relative to this file, wherever an earlier save put it
        self.path = Path(os.fspath(path)).absolute()
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read a manifest written by :meth:`save`; ``ManifestError`` says what is wrong."""
        raw = Path(path).read_bytes()
        try:
            m = cls.from_dict(_parse_json(raw))
        except ManifestError as exc:
            raise ManifestError(f"{os.fspath(path)}: {exc}") from None
        m.path = Path(os.fspath(path)).absolute()
        return m

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        if not isinstance(data, dict):
            raise ManifestError(f"expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise ManifestError(f"not a pipeward manifest ('format' is {data.get('format')!r})")
        if type(data.get("version")) is not int or data["version"] != VERSION:
            raise ManifestError(f"unsupported manifest version {data.get('version')!r} "
                                f"(this pipeward reads version {VERSION})")
        unknown = sorted(set(data) - set(_HEADER_KEYS) - {"entries", "signature", "plaintext", "base"})
        if unknown:
            raise ManifestError(f"unknown field(s): {', '.join(map(repr, unknown))}")
        for key in _HEADER_KEYS:
            if key not in data:
                raise ManifestError(f"missing field {key!r} (truncated?)")
        if data["hash"] != "sha256" or data["tree"] != "rfc6962":
            raise ManifestError(f"unsupported hash/tree {data['hash']!r}/{data['tree']!r}")
        options = data["options"]
        if (not isinstance(options, dict) or set(options) != {"exclude", "follow_symlinks"}
                or not isinstance(options["exclude"], list)
                or not all(isinstance(p, str) and p for p in options["exclude"])
                or not isinstance(options["follow_symlinks"], bool)):
            raise ManifestError(f"'options' must be {{'exclude': [patterns], 'follow_symlinks': "
                                f"bool}}, got {options!r}")
        if not isinstance(data["created"], str):
            raise ManifestError(f"'created' must be a string, got {data['created']!r}")
        if not isinstance(data.get("entries"), list):
            raise ManifestError("missing or malformed 'entries' list (truncated?)")
        entries = []
        for i, item in enumerate(data["entries"]):
            try:
                entries.append(Entry.from_dict(item))
            except ValueError as exc:
                raise ManifestError(f"entry {i}: {exc}") from None
        plaintext = []
        if "plaintext" in data:
            from ..protect.manifest_digests import PlaintextDigest  # noqa: PLC0415

            if not isinstance(data["plaintext"], list) or not data["plaintext"]:
                raise ManifestError("'plaintext' must be a non-empty list of records")
            for i, item in enumerate(data["plaintext"]):
                try:
                    plaintext.append(PlaintextDigest.from_dict(item))
                except ValueError as exc:
                    raise ManifestError(f"plaintext record {i}: {exc}") from None
        try:
            m = cls(entries, exclude=options["exclude"], follow_symlinks=options["follow_symlinks"],
                    metadata=data["metadata"], created=data["created"], plaintext=plaintext,
                    _checked=True)
        except (TypeError, ValueError) as exc:
            raise ManifestError(str(exc)) from None
        stray = [p.raw_path for p in plaintext if p.raw_path not in m or m[p.raw_path].kind != "file"]
        if stray:
            raise ManifestError(f"plaintext record for {os.fsdecode(stray[0])!r}, which is not a "
                                f"file entry")
        if type(data["tree_size"]) is not int or data["tree_size"] != len(m):
            raise ManifestError(f"'tree_size' is {data['tree_size']!r} but there are {len(m)} entries")
        if data["root"] != m.root:
            raise ManifestError(f"the stored root {data['root']!r} does not match the root of the "
                                f"entries {m.root}: the manifest was altered or corrupted")
        if "base" in data:
            base = data["base"]
            if not isinstance(base, str) or not base or "\0" in base or base.startswith("/"):
                raise ManifestError(f"'base' must be a relative POSIX path, got {base!r}")
            m.base = base
        if "signature" in data:
            m.signature = _check_signature_block(data["signature"])
        return m

    def to_checkfile(self, path: str | os.PathLike[str] | None = None) -> bytes:
        """GNU ``sha256sum -c`` text for the regular files (see ``checkfile``); written to
        ``path`` when given. Bytes, because file names need not be UTF-8."""
        text = format_checkfile(self._entries)
        if path is not None:
            Path(path).write_bytes(text)
        return text

    # ---------------------------------------------------------------------------- checking
    def verify(self, root: str | os.PathLike[str] | None = None, *, workers: int | None = None,
               cache: str | os.PathLike[str] | None = None, progress: ProgressArg = False,
               audit: AuditLog | None = None, any_tree: bool = False) -> Verification:
        """Compare the tree under ``root`` (default: :meth:`tree`, where the manifest says it
        is) with this manifest, walked with the same ``exclude`` and ``follow_symlinks``.
        Differences and unreadable files are in the result; with ``audit=`` the outcome is
        also recorded (``data.manifest``, event ``verified``). A directory that is plainly not
        this tree (most entries absent, more unlisted files than listed ones) raises
        :class:`~pipeward.manifest.verify.NotTheTreeError` before anything is hashed, unless
        ``any_tree``. ``progress`` as in :meth:`build`."""
        if root is None:
            root = self.tree()
            if root is None:
                raise ValueError("this manifest does not record where its tree is (it was written "
                                 "before pipeward recorded it, or never saved): pass the directory")
        started = time.monotonic()
        log.info("manifest verify: checking %s against %d entries", os.fsdecode(os.fspath(root)),
                 len(self))
        result = compare_tree(self._entries, root, exclude=Matcher(self.exclude),
                              follow_symlinks=self.follow_symlinks, workers=workers,
                              cache=HashCache(cache) if cache is not None else None,
                              progress=progress, any_tree=any_tree)
        log.info("manifest verify: %s in %.2f s (%d added, %d removed, %d modified, %d renamed, "
                 "%d errors)", "intact" if result.ok else "CHANGED", time.monotonic() - started,
                 len(result.added), len(result.removed), len(result.modified),
                 len(result.renamed), len(result.errors))
        if audit is not None:
            from ..audit.records import record_manifest  # noqa: PLC0415

            changed = list(result.modified) + [new for _, new in result.renamed]
            record_manifest(audit, manifest_root=self.root, n_files=len(self), event="verified",
                            ok=result.ok, added=list(result.added),
                            removed=list(result.removed) + [old for old, _ in result.renamed],
                            modified=changed + [path for path, _ in result.errors],
                            dataset=os.fsdecode(os.path.basename(os.path.abspath(root))))
        return result

    def signing_message(self) -> bytes:
        """The exact bytes the signature covers (see the module docstring)."""
        return SIGNATURE_CONTEXT + json.dumps(self.header(), sort_keys=True,
                                              separators=(",", ":")).encode("ascii")

    def sign(self, private_key: signing.KeyLike) -> None:
        """Sign the root and metadata with an Ed25519 key (object, PEM bytes or PEM file);
        replaces any earlier signature."""
        key = signing.load_private_key(private_key)
        self.signature = {"algorithm": "ed25519", "key_id": signing.key_id(key),
                          "value": base64.b64encode(signing.sign(key, self.signing_message())).decode()}

    def verify_signature(self, public_key: signing.KeyLike | Sequence[signing.KeyLike] | TrustStore,
                         *, role: str | None = None) -> bool | SignatureCheck:
        """True when the manifest carries a valid signature by ``public_key`` (or by one of a
        list of keys: a key rotation); False when it is unsigned, signed by another key, or
        anything signed was altered. A private key among them is a ``ValueError``.

        Given a :class:`~pipeward.TrustStore` instead, returns a ``SignatureCheck``: truthy
        with ``.signer`` naming who signed, or falsy with ``.reason`` (unknown key, revoked,
        expired, lacking ``role``, altered)."""
        from ..trust import TrustStore  # noqa: PLC0415

        if isinstance(public_key, TrustStore):
            return public_key.check_block(self.signature, self.signing_message(), role=role)
        keys = signing.load_public_keys(public_key)
        if self.signature is None:
            return False
        sig = base64.b64decode(self.signature["value"])
        return any(signing.verify(key, self.signing_message(), sig) for key in keys)

    def inclusion_proof(self, path: str | bytes | os.PathLike[str]) -> InclusionProof:
        """Proof that the entry at ``path`` is in the tree with this root."""
        i = self._index(path)
        hashes = _merkle_inclusion_proof(self._leaves, i)
        return InclusionProof(self._entries[i], i, len(self), tuple(h.hex() for h in hashes), self.root)


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        hint = " (truncated?)" if exc.pos >= len(raw.rstrip()) else ""
        raise ManifestError(f"not valid JSON{hint}: {exc}") from None
    except RecursionError:
        raise ManifestError("JSON nested too deeply to be a manifest") from None


def _check_signature_block(sig: Any) -> dict[str, str]:
    if not isinstance(sig, dict) or set(sig) != {"algorithm", "key_id", "value"}:
        raise ManifestError(f"'signature' must have 'algorithm', 'key_id' and 'value', got {sig!r}")
    if sig["algorithm"] != "ed25519":
        raise ManifestError(f"unsupported signature algorithm {sig['algorithm']!r}")
    if not isinstance(sig["key_id"], str) or not _HEX64.fullmatch(sig["key_id"]):
        raise ManifestError(f"signature 'key_id' must be 64 hex characters, got {sig['key_id']!r}")
    try:
        value = base64.b64decode(sig["value"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ManifestError(f"signature 'value' is not base64: {sig['value']!r}") from None
    if len(value) != 64:
        raise ManifestError(f"an Ed25519 signature is 64 bytes, got {len(value)}")
    return dict(sig)


@dataclass(frozen=True)
class InclusionProof:
    """One entry, its index in the sorted tree, and the RFC 6962 audit path (hex, leaf-side
    first) to the ``root`` the proof was made for."""

    entry: Entry
    index: int
    tree_size: int
    hashes: tuple[str, ...]
    root: str

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry.to_dict(), "index": self.index, "tree_size": self.tree_size,
                "hashes": list(self.hashes), "root": self.root}

    @classmethod
    def from_dict(cls, data: Any) -> InclusionProof:
        try:
            return cls(Entry.from_dict(data["entry"]), int(data["index"]), int(data["tree_size"]),
                       tuple(str(h) for h in data["hashes"]), str(data["root"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed inclusion proof: {exc}") from None


def verify_inclusion(proof: InclusionProof, root: str, *,
                     file: str | os.PathLike[str] | None = None) -> bool:
    """True when ``proof.entry`` is in the tree whose Merkle root is ``root`` (hex, e.g. from a
    manifest whose signature you checked). With ``file``, the file on disk must also have the
    entry's size and SHA-256. The proof's own ``root`` field is not trusted."""
    try:
        hashes = [bytes.fromhex(h) for h in proof.hashes]
        want = bytes.fromhex(root)
        proof.entry.validate()
    except (ValueError, TypeError):
        return False
    if len(want) != 32 or any(len(h) != 32 for h in hashes):
        return False
    leaf = leaf_hash(proof.entry.canonical_bytes())
    if not _merkle_verify_inclusion(leaf, proof.index, proof.tree_size, hashes, want):
        return False
    if file is None:
        return True
    if proof.entry.kind != "file":
        return os.path.islink(file) and os.fsencode(os.readlink(file)) == proof.entry.target
    try:
        st = os.stat(file)
        found = Found(proof.entry.raw_path, os.fsencode(file), "file", st)
        digests, errors = digest_files([found], workers=1, cache=None, start_ns=0,
                                       progress=False, tolerant=True)
    except OSError:
        return False
    return not errors and digests[0] == (proof.entry.digest, proof.entry.size)
