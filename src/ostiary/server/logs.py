"""What request data may do to a log line: a client that puts a token or password in the URL
query (which is refused) must not get it written to disk by the access log line, and no
request data may break a line or forge one (CWE-117): its control characters are escaped."""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote_plus

#: Query parameters whose values are never logged: every OAuth 2.0 / OpenID Connect
#: parameter that carries a credential, a token, or what proves possession of one (RFC 6749
#: ``code``, ``client_secret``, ``refresh_token``; RFC 7636 ``code_verifier``; RFC 7521/7523
#: ``assertion``, ``client_assertion``; RFC 8693 ``subject_token``, ``actor_token``; RP-Initiated
#: Logout ``id_token_hint``; Back-Channel Logout ``logout_token``), passwords, and our forms'
#: ``csrf_token``. ``state`` and ``nonce`` stay: they bind a response to a request and are
#: what an operator needs to follow one; they open nothing on their own.
SECRET_PARAMETERS: Final = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "id_token_hint",
        "logout_token",
        "token",
        "code",
        "code_verifier",
        "client_secret",
        "client_assertion",
        "assertion",
        "subject_token",
        "actor_token",
        "password",
        "new_password",
        "current_password",
        "csrf_token",
    }
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
