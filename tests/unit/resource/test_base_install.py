"""The base install verifies tokens without any web framework, ORM or CLI library.

Run in a fresh interpreter, so that what this test process already imported does not hide an
import the resource toolkit would make on its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import ostiary

FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "flask", "redis", "typer", "pydantic")

_PROGRAM = textwrap.dedent(
    """
    import asyncio, json, sys

    import ostiary.resource
    {extra_import}
    from ostiary.clock import FrozenClock
    from ostiary.jose import JWK, sign_compact
    from ostiary.resource import TokenVerifier

    now = 1_700_000_000
    key = JWK.generate("ES256")
    claims = {{
        "iss": "https://auth.example.test", "sub": "alice", "aud": "orders-api",
        "exp": now + 300, "iat": now, "jti": "j-1", "client_id": "c-1",
        "scope": "orders:read", "roles": ["viewer"], "sid": "s-1",
    }}
    token = sign_compact(claims, key, typ="at+jwt")
    verifier = TokenVerifier(
        issuer="https://auth.example.test", audience="orders-api", keys=[key],
        clock=FrozenClock(now),
    )
    verified = verifier.verify_sync(token)
    again = asyncio.run(verifier.verify(token))
    forbidden = {forbidden!r}
    print(json.dumps({{
        "sub": verified.sub,
        "scopes": sorted(verified.scopes),
        "cached": again is verified,
        "ostiary": ostiary.resource.__file__,
        "loaded": sorted({{m.split(".")[0] for m in sys.modules}} & set(forbidden)),
    }}))
    """
)


def _run(tmp_path: Path, extra_import: str = "") -> dict[str, Any]:
    program = _PROGRAM.format(extra_import=extra_import, forbidden=FORBIDDEN)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", program],
        cwd=tmp_path,  # nothing of the work tree on sys.path but the installed package
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_resource_toolkit_needs_no_framework(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result["sub"] == "alice"
    assert result["scopes"] == ["orders:read"]
    assert result["cached"] is True
    assert result["ostiary"] == str(Path(ostiary.__file__).parent / "resource" / "__init__.py")
    assert result["loaded"] == []


@pytest.mark.slow
def test_the_check_sees_a_framework_import(tmp_path: Path) -> None:
    """The same program, made to import the FastAPI integration, is caught: the check works."""
    result = _run(tmp_path, "import ostiary.resource.fastapi")
    assert "fastapi" in result["loaded"]
    assert "starlette" in result["loaded"]
    assert "pydantic" in result["loaded"]
