"""What the compliance checks read: the audit log's records (read once), its verification,
and optionally the data and model folders to re-hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...audit import AuditLog, AuditReport, Record
from ...audit.kinds import MODEL_REGISTERED

__all__ = ["Evidence"]


@dataclass
class Evidence:
    log: AuditLog
    report: AuditReport
    records: list[Record]
    model: str | None
    data_dir: Path | None = None
    model_dir: Path | None = None
    public_key: Any = None
    checkpoint: Any = None
    _manifest_roots: dict[tuple[Path, tuple[str, ...]], str] = field(default_factory=dict)

    @classmethod
    def gather(cls, log: AuditLog, *, model: str | None = None, data_dir: Path | None = None,
               model_dir: Path | None = None, public_key: Any = None,
               checkpoint: Any = None) -> Evidence:
        report = log.verify(public_key, checkpoint=checkpoint)
        records = list(log.records(skip_unreadable=True))
        if model is None:
            registered = [r for r in records if r.action == MODEL_REGISTERED]
            model = str(registered[-1].payload.get("name")) if registered else None
        return cls(log, report, records, model, data_dir, model_dir, public_key, checkpoint)

    def of(self, *actions: str, prefix: bool = False) -> list[Record]:
        """Records of these actions about the model (or about no model in particular)."""
        def wanted(r: Record) -> bool:
            hit = any(r.action.startswith(a) for a in actions) if prefix else r.action in actions
            return hit and (self.model is None or r.payload.get("model", self.model) == self.model)

        return [r for r in self.records if wanted(r)]

    def manifest_root(self, folder: Path, *, exclude: tuple[str, ...] = ()) -> str:
        """The RFC 6962 root of a folder as ``Manifest.build`` computes it (cached); a signed
        model directory is hashed without its own ``manifest.json`` (``exclude``)."""
        key = (folder, exclude)
        if key not in self._manifest_roots:
            from ...manifest import Manifest  # noqa: PLC0415

            self._manifest_roots[key] = Manifest.build(folder, exclude=list(exclude)).root
        return self._manifest_roots[key]
