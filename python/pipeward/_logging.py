"""``logging`` records for pipeward's long operations, under the ``pipeward.<stage>`` loggers
(``pipeward.manifest``, ``pipeward.drift``, ``pipeward.outliers``, ``pipeward.protect``).
pipeward adds no handler: ``logging.basicConfig(level=logging.INFO)`` shows them."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["logged"]

F = TypeVar("F", bound=Callable[..., Any])


def logged(logger: str, what: str, summary: Callable[[Any], str] | None = None) -> Callable[[F], F]:
    """Decorate a long operation: an INFO record when it starts, one when it ends with its
    duration (and ``summary(result)``), one when it fails. Costs one level check when INFO is
    off."""
    log = logging.getLogger(logger)

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            if not log.isEnabledFor(logging.INFO):
                return fn(*args, **kwargs)
            log.info("%s: started", what)
            start = time.monotonic()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                log.info("%s: failed after %.2f s: %s", what, time.monotonic() - start,
                         type(exc).__name__)
                raise
            extra = f" ({summary(result)})" if summary is not None else ""
            log.info("%s: done in %.2f s%s", what, time.monotonic() - start, extra)
            return result

        return run  # type: ignore[return-value]

    return wrap
