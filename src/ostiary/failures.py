"""How a background job logs a failure: an outage of a dependency is one warning line, any
other failure a traceback.

The database or Redis being down is an operational event the operator already sees elsewhere
(503s with ``Retry-After``, ``/readyz``); a traceback per job per second during an outage
buries the one line that matters. A failure of any other kind is a bug: its traceback is what
it takes to fix it.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

from ostiary.storage.protocols import StorageError

#: What a dependency being unreachable or failing raises by the time it reaches a job.
OUTAGES: Final = (StorageError, ConnectionError, TimeoutError)


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """Log the exception being handled (call from an ``except`` block) under ``message``:
    as a warning naming the outage without its traceback, or with it for anything else."""
    exc = sys.exc_info()[1]
    if isinstance(exc, OUTAGES):
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        logger.warning(message + " (%s: %s)", *args, type(exc).__name__, first_line)
    else:
        logger.exception(message, *args)
