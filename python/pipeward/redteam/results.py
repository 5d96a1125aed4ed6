"""What every attack returns: its numbers, and a way to put them in the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AttackResult"]


@dataclass(frozen=True)
class AttackResult:
    """Base of the attack results: ``summary()`` is the JSON-ready part that goes on record."""

    attack: str

    def summary(self) -> dict[str, Any]:  # pragma: no cover - every result overrides it
        raise NotImplementedError

    def record(self, audit_log: Any, *, subject: str = "", model: str | None = None) -> Any:
        """Append ``redteam.<attack>`` with :meth:`summary` as payload to a :class:`pipeward.AuditLog`;
        ``model`` names the model attacked (the model card reads the records that name it)."""
        payload = {"attack": self.attack, **({"model": model} if model is not None else {}), **self.summary()}
        return audit_log.append(f"redteam.{self.attack}", payload, subject=subject)
