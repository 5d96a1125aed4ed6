"""Federated learning integrations (the ``fl`` extra): :mod:`pipeward.fl.flower`."""
