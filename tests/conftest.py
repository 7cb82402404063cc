"""Suite-wide rules.

With ``CI`` set, no test may skip: a skip there means a missing install step, so it is turned
into a failure that names the reason. On a developer's machine a test that needs an absent
service or tool skips and says why.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Generator

import pytest

IN_CI = bool(os.environ.get("CI"))

# A shell without job control starts a background command with SIGINT ignored, and every
# process the tests start would inherit that: the tests that stop a server or an example with
# Ctrl-C (SIGINT) would wait for nothing. Python's own handler here makes children start with
# the default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which must not happen: {reason}"
