"""Compliance profiles: JSON files naming the requirements, their checks, limits and citations.

The shipped profiles (``gdpr``, ``ccpa``, ``hipaa``) live beside this file; copy one, edit it
and pass the copy's path to use your own limits. A profile is::

    {"name": "...", "title": "...", "note": "...",
     "requirements": [{"id": "...", "title": "...", "check": "<a check name>",
                       "params": {...}, "cites": ["Art. 5(1)(f)", ...]}, ...]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .requirements import CHECKS

__all__ = ["SHIPPED", "Profile", "Requirement", "load_profile"]

SHIPPED = ("gdpr", "ccpa", "hipaa")


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    check: str
    params: dict[str, Any]
    cites: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    note: str
    requirements: tuple[Requirement, ...]
    source: str


def _requirement(item: Any, where: str) -> Requirement:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object, got {type(item).__name__}")
    unknown = set(item) - {"id", "title", "check", "params", "cites"}
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    for key in ("id", "title", "check"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise ValueError(f"{where}: expected a non-empty string '{key}'")
    check = item["check"]
    if check not in CHECKS:
        raise ValueError(f"{where}: unknown check {check!r}; expected one of {sorted(CHECKS)}")
    params = item.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"{where}: 'params' must be an object")
    extra = set(params) - CHECKS[check][1]
    if extra:
        raise ValueError(f"{where}: check {check!r} takes no params {sorted(extra)} "
                         f"(it takes {sorted(CHECKS[check][1]) or 'none'})")
    cites = item.get("cites", [])
    if not isinstance(cites, list) or not all(isinstance(c, str) for c in cites):
        raise ValueError(f"{where}: 'cites' must be a list of strings")
    return Requirement(item["id"], item["title"], check, params, tuple(cites))


def parse_profile(data: Any, source: str) -> Profile:
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise ValueError(f"profile {source}: expected an object with a 'requirements' list")
    reqs = tuple(_requirement(item, f"profile {source}, requirement {i}")
                 for i, item in enumerate(data["requirements"]))
    ids = [r.id for r in reqs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"profile {source}: requirement ids must be unique")
    return Profile(str(data.get("name", Path(source).stem)), str(data.get("title", "")),
                   str(data.get("note", "")), reqs, source)


def load_profile(profile: str | os.PathLike[str]) -> Profile:
    """A shipped profile by name (``gdpr``, ``ccpa``, ``hipaa``) or a profile file by path."""
    if isinstance(profile, str) and profile in SHIPPED:
        text = resources.files(__package__).joinpath("profiles", f"{profile}.json").read_text("utf-8")
        source = f"{profile} (shipped)"
    else:
        path = Path(profile)
        if not path.is_file():
            raise FileNotFoundError(f"no profile {profile!r}: give one of {', '.join(SHIPPED)} or a JSON file")
        text, source = path.read_text(encoding="utf-8"), str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"profile {source} is not JSON: {exc}") from None
    return parse_profile(data, source)
