"""The service policy: roles, limits, input checks, output hardening, watermark, JWT.

Read from TOML (every table and key optional; unknown keys are an error, so a typo never
silently weakens a policy)::

    [roles]                      # role -> permissions (predict, probabilities, metrics, admin,
    analyst = ["predict", "probabilities"]   # explain, feedback)

    [limits]
    per_key = "100/minute"       # hard limit per key: 429 past it
    per_address = "1000/minute"  # hard limit per client address
    soft_fraction = 0.5          # past this share of per_key, answers are delayed ...
    max_delay_ms = 200           # ... increasingly, up to this just below the hard limit
    daily_budget = 0             # rows per key per day (0: none), against extraction
    storage = "memory://"        # or redis://HOST:PORT/DB to share limits across workers

    [input]
    max_rows = 1000
    max_body_bytes = 1048576     # 413 past it
    range_slack = 1.0            # allowed beyond the training range, in widths of that range
    guard = "reject"             # reject (422) | flag (answer, record, count) | off
    guard_alpha = 0.01           # out of distribution when its conformal p-value <= this (the
                                 # smallest possible is 1 / (calibration rows + 1))
    squeeze_decimals = -1        # feature squeezing: round to this many decimals (-1: off)
    record_inputs = false        # keep raw inputs in the audit log (default: their SHA-256)

    [output]
    top_k = 0                    # keep the k largest probabilities (0: all)
    round = 4                    # decimals of the probabilities
    noise = 0.0                  # std of Gaussian noise added to probabilities
    label_only = false           # never answer probabilities

    [model]
    threads = 2                  # threads that run the model off the event loop (0: on it)
    queue = 64                   # calls that may wait for a thread; past it, 503 + Retry-After
    inline_below_ms = 1.0        # a call expected to be quicker runs on the event loop (the
                                 # hand-off to a thread would cost more than it saves)

    [watermark]
    fraction = 0.0               # share of inputs answered with a keyed wrong label
    key = ""                     # hex secret, or key_file = "PATH" (relative to this file)

    [jwt]
    issuer = ""
    audience = ""
    public_key = ""              # PEM file (Ed25519 for EdDSA, RSA for RS256)
    algorithms = ["EdDSA", "RS256"]
    role_claim = "role"

    [extraction]
    enabled = true
    min_queries = 50             # per key, before the PRADA test runs
    threshold = 0.0              # alarm when the Shapiro-Wilk W of min-distances falls below
                                 # (0: 0.75 x the W of the training data, set at packaging)

    [drift]
    enabled = true
    window = 500                 # accepted rows per drift check

    [alerts]
    webhook = ""                 # URL that receives a JSON POST for each alert (drift, extraction)

    [fairness]                   # fairness over time, as labels arrive on /v1/feedback
    enabled = false
    sensitive = []               # the sensitive attributes, e.g. ["sex"]
    source = "feedback"          # where their values come from: "feedback" (the feedback body)
                                 # or "request" (model input columns of that name)
    window = 10                  # feedback batches per rolling window
    method = "between_groups"    # or "to_overall", as pipeward.fairness.assess
    pending = 100000             # answered rows kept for joining with labels (oldest dropped)
    limits = {}                  # disparity -> limit, e.g. {demographic_parity_difference = 0.1}

    [explain]                    # /v1/explain and per-decision explanations
    top = 5                      # contributions returned (and recorded) per row
    output = ""                  # "" (log-odds for classifiers) or "probability"
    max_rows = 100               # rows per /v1/explain request
    record_decisions = false     # an explanation.decision audit record for every answered row

    [audit]
    batch = 256                  # records per transaction
    flush_ms = 50                # the writer commits at least this often
    queue = 100000               # bounded queue; past it requests wait for room (no record
                                 # is ever dropped)
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["PERMISSIONS", "Policy"]

PERMISSIONS = ("predict", "probabilities", "metrics", "admin", "explain", "feedback")
DEFAULT_ROLES = {
    "admin": ["predict", "probabilities", "metrics", "admin", "explain", "feedback"],
    "analyst": ["predict", "probabilities"],
    "user": ["predict"],
    "metrics": ["metrics"],
}


@dataclass(frozen=True)
class Limits:
    per_key: str = "100/minute"
    per_address: str = "1000/minute"
    soft_fraction: float = 0.5
    max_delay_ms: float = 200.0
    daily_budget: int = 0
    storage: str = "memory://"


@dataclass(frozen=True)
class InputRules:
    max_rows: int = 1000
    max_body_bytes: int = 1 << 20
    range_slack: float = 1.0
    guard: str = "reject"
    guard_alpha: float = 0.01
    squeeze_decimals: int = -1
    record_inputs: bool = False


@dataclass(frozen=True)
class OutputRules:
    top_k: int = 0
    round: int = 4
    noise: float = 0.0
    label_only: bool = False


@dataclass(frozen=True)
class ModelRules:
    threads: int = 2
    queue: int = 64
    inline_below_ms: float = 1.0


@dataclass(frozen=True)
class WatermarkRules:
    fraction: float = 0.0
    key: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class JwtRules:
    issuer: str = ""
    audience: str = ""
    public_key: str = ""
    algorithms: tuple[str, ...] = ("EdDSA", "RS256")
    role_claim: str = "role"


@dataclass(frozen=True)
class ExtractionRules:
    enabled: bool = True
    min_queries: int = 50
    threshold: float = 0.0


@dataclass(frozen=True)
class DriftRules:
    enabled: bool = True
    window: int = 500


@dataclass(frozen=True)
class AlertRules:
    webhook: str = ""


@dataclass(frozen=True)
class FairnessRules:
    enabled: bool = False
    sensitive: tuple[str, ...] = ()
    source: str = "feedback"
    window: int = 10
    method: str = "between_groups"
    pending: int = 100_000
    limits: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in ("feedback", "request"):
            raise ValueError(f"policy: fairness.source must be feedback or request, got {self.source!r}")
        if self.enabled and not (self.sensitive and self.limits):
            raise ValueError("policy: fairness.enabled needs fairness.sensitive (attribute names) "
                             "and fairness.limits (disparity -> limit)")
        if self.window < 1 or self.pending < 1:
            raise ValueError("policy: fairness.window and fairness.pending must be positive")
        from ..accountability.fairness import DISPARITIES  # noqa: PLC0415 - names only

        unknown = sorted(set(self.limits) - set(DISPARITIES))
        if unknown or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                              for v in self.limits.values()):
            raise ValueError(f"policy: fairness.limits maps disparities ({', '.join(DISPARITIES)}) to "
                             f"numbers, got {dict(self.limits)!r}")


@dataclass(frozen=True)
class ExplainRules:
    top: int = 5
    output: str = ""
    max_rows: int = 100
    record_decisions: bool = False

    def __post_init__(self) -> None:
        if self.output not in ("", "log_odds", "probability", "raw"):
            raise ValueError(f"policy: explain.output must be '', log_odds, probability or raw, "
                             f"got {self.output!r}")
        if self.top < 1 or self.max_rows < 1:
            raise ValueError("policy: explain.top and explain.max_rows must be positive")


@dataclass(frozen=True)
class AuditRules:
    batch: int = 256
    flush_ms: float = 50.0
    queue: int = 100_000


@dataclass(frozen=True)
class Policy:
    """The whole policy; ``Policy()`` is the default one."""

    roles: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {r: tuple(p) for r, p in DEFAULT_ROLES.items()})
    limits: Limits = Limits()
    input: InputRules = InputRules()
    output: OutputRules = OutputRules()
    model: ModelRules = ModelRules()
    watermark: WatermarkRules = WatermarkRules()
    jwt: JwtRules = JwtRules()
    extraction: ExtractionRules = ExtractionRules()
    drift: DriftRules = DriftRules()
    audit: AuditRules = AuditRules()
    alerts: AlertRules = AlertRules()
    fairness: FairnessRules = FairnessRules()
    explain: ExplainRules = ExplainRules()
    base_dir: Path = Path(".")

    def __post_init__(self) -> None:
        for role, perms in self.roles.items():
            unknown = set(perms) - set(PERMISSIONS)
            if unknown:
                raise ValueError(f"policy: role {role!r} has unknown permissions {sorted(unknown)} "
                                 f"(known: {', '.join(PERMISSIONS)})")
        if self.input.guard not in ("reject", "flag", "off"):
            raise ValueError(f"policy: input.guard must be reject, flag or off, got {self.input.guard!r}")
        if not 0 < self.limits.soft_fraction <= 1:
            raise ValueError(f"policy: limits.soft_fraction must be in (0, 1], got {self.limits.soft_fraction}")
        if not 0 <= self.watermark.fraction < 1:
            raise ValueError(f"policy: watermark.fraction must be in [0, 1), got {self.watermark.fraction}")
        if self.model.threads < 0 or self.model.queue < 0 or self.model.inline_below_ms < 0:
            raise ValueError(f"policy: model.threads, model.queue and model.inline_below_ms must "
                             f"be >= 0, got {self.model}")
        if self.input.max_rows < 1 or self.input.max_body_bytes < 1:
            raise ValueError("policy: input.max_rows and input.max_body_bytes must be positive")

    def allows(self, role: str, permission: str) -> bool:
        return permission in self.roles.get(role, ())

    def watermark_key(self) -> bytes:
        """The watermark secret (empty when watermarking is off)."""
        if self.watermark.key_file:
            path = self.base_dir / self.watermark.key_file
            return path.read_bytes().strip()
        return bytes.fromhex(self.watermark.key) if self.watermark.key else b""

    def replace(self, **changes: Any) -> Policy:
        """A copy with whole sections or single settings replaced: ``replace(limits={...})``."""
        updates: dict[str, Any] = {}
        for name, value in changes.items():
            current = getattr(self, name)
            if dataclasses.is_dataclass(current) and isinstance(value, dict):
                updates[name] = _section(type(current), value, name, current)
            else:
                updates[name] = value
        return dataclasses.replace(self, **updates)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: str | os.PathLike[str] = ".") -> Policy:
        known = {f.name for f in dataclasses.fields(cls)} - {"base_dir"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"policy: unknown tables {sorted(unknown)} (known: {sorted(known)})")
        kwargs: dict[str, Any] = {"base_dir": Path(base_dir)}
        for f in dataclasses.fields(cls):
            if f.name not in data or f.name == "base_dir":
                continue
            if f.name == "roles":
                roles = data["roles"]
                if not isinstance(roles, dict):
                    raise ValueError("policy: [roles] must map role names to permission lists")
                kwargs["roles"] = {str(r): tuple(p) for r, p in roles.items()}
            else:
                kwargs[f.name] = _section(type(f.default), data[f.name], f.name)
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Policy:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p}: not valid TOML ({exc})") from None
        try:
            return cls.from_dict(data, base_dir=p.parent)
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from None


def _section(kind: type, values: Any, name: str, base: Any = None) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"policy: [{name}] must be a table, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"policy: unknown keys in [{name}]: {sorted(unknown)} (known: {sorted(fields)})")
    out = {}
    for key, value in values.items():
        default = getattr(base if base is not None else kind(), key)
        if isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"policy: {name}.{key} must be true or false, got {value!r}")
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"policy: {name}.{key} must be a number, got {value!r}")
            value = type(default)(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise ValueError(f"policy: {name}.{key} must be a string, got {value!r}")
        out[key] = value
    return dataclasses.replace(base if base is not None else kind(), **out)
