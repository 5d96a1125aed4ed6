"""``check_compliance``: run a profile's requirements against an audit log."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...audit import AuditLog
from .evidence import Evidence
from .profile import Profile, Requirement, load_profile
from .requirements import CHECKS, FAIL, NOT_RECORDED, PASS, Verdict

__all__ = ["ComplianceReport", "RequirementResult", "check_compliance"]


@dataclass(frozen=True)
class RequirementResult:
    requirement: Requirement
    verdict: Verdict

    @property
    def status(self) -> str:
        return self.verdict.status

    def to_dict(self) -> dict[str, Any]:
        r = self.requirement
        return {"id": r.id, "title": r.title, "check": r.check, "cites": list(r.cites),
                "status": self.verdict.status, "detail": self.verdict.detail,
                "evidence": list(self.verdict.evidence)}


@dataclass(frozen=True)
class ComplianceReport:
    """One verdict per requirement; ``ok`` means none failed ("not recorded" is not a failure,
    but :attr:`complete` tells whether every requirement had evidence)."""

    profile: Profile
    model: str | None
    results: tuple[RequirementResult, ...]
    log_path: str

    @property
    def ok(self) -> bool:
        return not any(r.status == FAIL for r in self.results)

    @property
    def complete(self) -> bool:
        return not any(r.status == NOT_RECORDED for r in self.results)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in (PASS, FAIL, NOT_RECORDED)}

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile.name, "title": self.profile.title, "model": self.model,
                "ok": self.ok, "counts": self.counts(),
                "requirements": [r.to_dict() for r in self.results]}

    def summary(self) -> str:
        lines = [f"{self.profile.title or self.profile.name}: {self.log_path}"
                 + (f" (model {self.model})" if self.model else "")]
        for r in self.results:
            ev = ", ".join(f"#{s}" for s in r.verdict.evidence[:8])
            more = f" +{len(r.verdict.evidence) - 8}" if len(r.verdict.evidence) > 8 else ""
            lines.append(f"  {r.status.upper():<13} {r.requirement.id}: {r.verdict.detail}"
                         + (f" [evidence {ev}{more}]" if ev else "")
                         + (f" ({'; '.join(r.requirement.cites)})" if r.requirement.cites else ""))
        c = self.counts()
        lines.append(f"{c[PASS]} pass, {c[FAIL]} fail, {c[NOT_RECORDED]} not recorded")
        return "\n".join(lines)


def check_compliance(log: AuditLog, profile: Profile | str | os.PathLike[str] = "gdpr", *,
                     model: str | None = None, data_dir: str | os.PathLike[str] | None = None,
                     model_dir: str | os.PathLike[str] | None = None,
                     public_key: Any = None, checkpoint: Any = None) -> ComplianceReport:
    """Answer every requirement of ``profile`` from ``log`` (and the folders, if given).

    ``public_key`` and ``checkpoint`` (one saved outside the log) are those of
    :meth:`pipeward.AuditLog.verify`: with them, a rewritten or rolled-back log fails."""
    if not isinstance(log, AuditLog):
        raise TypeError(f"log: expected a pipeward AuditLog, got {type(log).__name__}")
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    for name, folder in (("data_dir", data_dir), ("model_dir", model_dir)):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{name}: {folder} is not a folder")
    ev = Evidence.gather(log, model=model, data_dir=None if data_dir is None else Path(data_dir),
                         model_dir=None if model_dir is None else Path(model_dir), public_key=public_key,
                         checkpoint=checkpoint)
    results = tuple(RequirementResult(req, CHECKS[req.check][0](ev, req.params))
                    for req in profile.requirements)
    return ComplianceReport(profile, ev.model, results, log.path)
