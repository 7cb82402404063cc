"""ostiary.failures.log_failure: an outage is one warning line, a bug keeps its traceback."""

from __future__ import annotations

import logging

import pytest

from ostiary.failures import log_failure
from ostiary.storage import StorageError


def job(exc: BaseException) -> None:
    raise exc


def fail_with(exc: BaseException, logger: logging.Logger) -> None:
    try:
        job(exc)
    except Exception:
        log_failure(logger, "job %s failed; retrying", "sync")


@pytest.mark.parametrize(
    "exc",
    [
        StorageError("connection refused\nsecond line"),
        ConnectionRefusedError("refused"),
        TimeoutError(),
    ],
    ids=type,
)
def test_an_outage_is_one_warning_line_without_a_traceback(
    exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test.failures")
    with caplog.at_level(logging.WARNING, logger="test.failures"):
        fail_with(exc, logger)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    message = record.getMessage()
    assert message.startswith("job sync failed; retrying (")
    assert type(exc).__name__ in message
    assert "\n" not in message


def test_anything_else_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.failures")
    with caplog.at_level(logging.WARNING, logger="test.failures"):
        fail_with(KeyError("bug"), logger)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert record.getMessage() == "job sync failed; retrying"
