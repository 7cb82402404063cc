"""Running a snippet as a reader would: with ``make run``'s demo server going, from the folder it
runs in, after pasting the ``export`` lines it printed.

The server is the real ``ostiary serve --demo`` (``tests/http/_live.py``) on a free port: the
URL the docs name, ``http://127.0.0.1:8000``, is replaced by its own in each snippet, and the
snippet's ``OSTIARY_ISSUER`` is set to it (what a reader's server has by default). Shell blocks
run with ``bash`` under ``set -euo pipefail``, so an unset variable or a failed command fails
the snippet; Python blocks run with this interpreter in a directory of their own.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.http._live import LiveServer, clean_environment, live_server

from ._markdown import PYTHON, Block

#: The URLs of the demo server the docs name.
DOCUMENTED_URLS: Final = ("http://127.0.0.1:8000", "http://localhost:8000")
SNIPPET_TIMEOUT: Final = 60.0
#: Commands a test must never run (each fails the snippet with a request for a skip marker).
NEVER_RUN: Final = {
    r"\bpip install\b": "installs packages (into the venv the tests run in)",
    r"(^|[;&|]\s*)make\b": "runs a make target (make run serves until stopped)",
    r"\bostiary serve\b": "starts a server that runs until stopped",
    r"\buvicorn\b": "starts a server that runs until stopped",
}
_EXPORT: Final = re.compile(r"^\s*(export [A-Z][A-Z0-9_]*=.*)$", re.M)


def printed_exports(server: LiveServer) -> str:
    """The ``export NAME=...`` lines the demo server printed at start, as a reader pastes them."""
    return "\n".join(_EXPORT.findall(server.stdout())) + "\n"


def refusal(code: str) -> str | None:
    """Why ``code`` must not be run by a test, or None."""
    for pattern, why in NEVER_RUN.items():
        if re.search(pattern, code, re.M):
            return f"it {why}: mark it <!-- snippet: skip REASON -->"
    return None


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str

    def explain(self, block: Block, code: str) -> str:
        return (
            f"{block.name} exited with {self.returncode}\n--- snippet\n{code}"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )


class DemoServers:
    """One demo server per page, started when a page's first snippet needs it; the previous
    page's is stopped then, so that one runs at a time and a page's snippets (which create
    clients, log out, rotate keys) meet only what the page itself did."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._page: Path | None = None
        self._server: LiveServer | None = None
        self._stack = contextlib.ExitStack()

    def for_page(self, page: Path) -> LiveServer:
        if self._page != page or self._server is None:
            self.close()
            folder = self._workdir / page.stem
            self._server = self._stack.enter_context(live_server(folder))
            self._page = page
        return self._server

    def close(self) -> None:
        self._stack.close()
        self._server = None
        self._page = None


def on_server(code: str, server: LiveServer) -> str:
    for url in DOCUMENTED_URLS:
        code = code.replace(url, server.base_url)
    return code


def run(block: Block, code: str, server: LiveServer, scratch: Path) -> Ran:
    """``code`` (``block``'s, after what it continues) run against ``server``."""
    code = on_server(code, server)
    prelude = "set -euo pipefail\n" + printed_exports(server)
    if block.language in PYTHON:
        scratch.mkdir(parents=True, exist_ok=True)
        program = scratch / "snippet.py"
        program.write_text(code, encoding="utf-8")
        script = prelude + f'exec "$SNIPPET_PYTHON" -W error {program}\n'
        cwd = scratch
    else:
        script = prelude + code
        cwd = server.workdir  # where `make run` runs: its database, its key folder
    environment = {
        **clean_environment(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SNIPPET_PYTHON": sys.executable,
        "OSTIARY_ISSUER": server.issuer,
        # The server was started with it: its printed export line reads it.
        "OSTIARY_DEMO_ALICE_PASSWORD": server.alice_password,
    }
    with subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-c", script],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # what it starts ends with it on a timeout
    ) as bash:
        try:
            stdout, stderr = bash.communicate(timeout=SNIPPET_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(bash.pid, signal.SIGKILL)
            stdout, stderr = bash.communicate()
            stderr += f"\n(ended: ran longer than {SNIPPET_TIMEOUT} s)"
    return Ran(bash.returncode, stdout, stderr)
