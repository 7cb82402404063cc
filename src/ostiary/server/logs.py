"""Keeping secrets out of the access log: a client that puts a token or password in the URL
query (which is refused) must not get it written to disk by the access log line."""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import unquote_plus

#: Query parameters whose values are never logged.
SECRET_PARAMETERS: Final = frozenset(
    {"access_token", "refresh_token", "password", "new_password", "current_password", "token"}
)


def redact_query(path: str) -> str:
    """``path`` with the values of secret query parameters replaced by ``REDACTED``; names are
    compared decoded, so ``access%5Ftoken`` is caught too."""
    base, question, query = path.partition("?")
    if not question:
        return path
    parts = []
    for part in query.split("&"):
        name, equals, _ = unquote_plus(part).partition("=")
        if equals and name.strip().lower() in SECRET_PARAMETERS:
            part = f"{name.strip().lower()}=REDACTED"
        parts.append(part)
    return f"{base}?{'&'.join(parts)}"


class RedactQuerySecrets(logging.Filter):
    """For uvicorn's access logger, whose record args are
    ``(client_addr, method, full_path, http_version, status_code)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_query(args[2]), args[3], args[4])
        return True
