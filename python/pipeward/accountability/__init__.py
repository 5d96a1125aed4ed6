"""Accountability: fairness across groups, explanations of decisions, compliance checks."""
