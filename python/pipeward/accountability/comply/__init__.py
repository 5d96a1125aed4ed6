"""Automated compliance checks: a profile's requirements answered from an audit log."""

from __future__ import annotations

from .checklist import ComplianceReport, RequirementResult, check_compliance
from .profile import SHIPPED, Profile, Requirement, load_profile
from .requirements import CHECKS, FAIL, NOT_RECORDED, PASS, Verdict

__all__ = ["CHECKS", "FAIL", "NOT_RECORDED", "PASS", "SHIPPED", "ComplianceReport", "Profile",
           "Requirement", "RequirementResult", "Verdict", "check_compliance", "load_profile"]
