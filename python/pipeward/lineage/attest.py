"""``attest``: one pipeline step as an in-toto Statement v1 in a DSSE envelope.

The subjects are the step's outputs: each output manifest's Merkle root (digest algorithm
``pipewardManifestRoot``) and each of its files (``sha256``). The predicate
(``predicateType`` :data:`PREDICATE_TYPE`) names the step, its parameters, the tools and
versions that ran it, and its inputs: each input manifest's root with its signed header and
signature, so that a verifier can check who vouched for the input without the manifest file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .. import signing
from ..manifest import Manifest
from .dsse import sign_envelope

if TYPE_CHECKING:
    from ..audit import AuditLog

__all__ = ["PAYLOAD_TYPE", "PREDICATE_TYPE", "ROOT_DIGEST", "STATEMENT_TYPE", "attest"]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://pipeward.dev/lineage/step/v1"
ROOT_DIGEST = "pipewardManifestRoot"  # in-toto allows named digest algorithms beyond sha256
_PEERS = ("numpy", "cryptography", "scipy", "sklearn", "pandas", "pyarrow", "torch", "opacus")

ManifestLike = Union[Manifest, str, "os.PathLike[str]"]


def _named(manifests: Mapping[str, ManifestLike] | Sequence[ManifestLike], what: str,
           ) -> list[tuple[str, Manifest]]:
    if isinstance(manifests, Mapping):
        items = list(manifests.items())
    elif isinstance(manifests, (str, os.PathLike, Manifest)):
        raise TypeError(f"{what} must be a mapping of name to manifest or a list of manifests")
    else:
        items = []
        for i, m in enumerate(manifests):
            if isinstance(m, Manifest):
                items.append((m.metadata.get("name", f"{what}{i}"), m))
            else:
                items.append((Path(m).name.removesuffix(".json").removesuffix(".manifest"), m))
    out = []
    for name, m in items:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what}: every manifest needs a non-empty name, got {name!r}")
        if not isinstance(m, Manifest):
            if not isinstance(m, (str, os.PathLike)):
                raise TypeError(f"{what} {name!r}: expected a Manifest or a manifest file, got "
                                f"{type(m).__name__}")
            m = Manifest.load(m)
        out.append((name, m))
    if len({n for n, _ in out}) != len(out):
        raise ValueError(f"{what}: two manifests with the same name")
    return out


def tool_versions() -> dict[str, str]:
    """pipeward, Python and the peers loaded in this process, with their versions."""
    from .. import __version__  # noqa: PLC0415

    tools = {"pipeward": __version__, "python": platform.python_version()}
    for name in _PEERS:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        if isinstance(version, str):
            tools[name] = version
    return tools


def statement(step: str, inputs: list[tuple[str, Manifest]], outputs: list[tuple[str, Manifest]],
              params: Mapping[str, Any]) -> dict[str, Any]:
    subjects = []
    for name, m in outputs:
        subjects.append({"name": name, "digest": {ROOT_DIGEST: m.root}})
        subjects += [{"name": f"{name}/{e.path}", "digest": {"sha256": e.digest}}
                     for e in m if e.kind == "file"]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "step": step,
            "parameters": dict(params),
            "inputs": [{"name": n, "root": m.root, "manifest": m.header(), "signature": m.signature}
                       for n, m in inputs],
            "outputs": [{"name": n, "root": m.root, "files": sum(e.kind == "file" for e in m)}
                        for n, m in outputs],
            "tools": tool_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }


def attest(step: str, inputs: Mapping[str, ManifestLike] | Sequence[ManifestLike],
           outputs: Mapping[str, ManifestLike] | Sequence[ManifestLike],
           params: Mapping[str, Any] | None, private_key: signing.KeyLike, *,
           path: str | os.PathLike[str] | None = None, audit: AuditLog | None = None,
           ) -> dict[str, Any]:
    """Sign that ``step`` turned ``inputs`` into ``outputs`` with ``params``: returns the DSSE
    envelope (a dict), written as JSON to ``path`` when given and recorded in ``audit``
    (``lineage.attested``) when given. ``inputs``/``outputs`` map names to manifests (objects
    or files); ``params`` must be JSON (no NaN)."""
    if not isinstance(step, str) or not step:
        raise ValueError(f"step must be a non-empty name, got {step!r}")
    ins, outs = _named(inputs, "input"), _named(outputs, "output")
    if not outs:
        raise ValueError("a step must have at least one output")
    try:
        body = json.dumps(statement(step, ins, outs, params or {}), sort_keys=True,
                          separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"params must be JSON values (str, numbers, bool, None, lists, dicts): {exc}") from None
    envelope = sign_envelope(PAYLOAD_TYPE, body, private_key)
    if path is not None:
        Path(path).write_text(json.dumps(envelope, indent=1) + "\n", encoding="utf-8")
    if audit is not None:
        from ..audit.records import record_attestation  # noqa: PLC0415

        record_attestation(audit, step=step, key_id=envelope["signatures"][0]["keyid"],
                           statement_sha256=hashlib.sha256(body).hexdigest(),
                           inputs={n: m.root for n, m in ins}, outputs={n: m.root for n, m in outs})
    return envelope
