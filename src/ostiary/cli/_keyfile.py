"""Reading the ``--key`` file of ``ostiary token verify``: a JWK, a JWKS or a PEM public key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import typer

from ostiary.errors import InvalidKey
from ostiary.jose import JWK

#: Far above any real key file; stops a mistaken path from being read into memory whole.
MAX_KEY_FILE_BYTES: Final = 1024 * 1024


def load_keys(path: Path, *, alg: str | None, kid: str | None) -> dict[str, Any] | list[JWK]:
    """The ``keys=`` argument of :class:`~ostiary.resource.TokenVerifier` for a key file.

    ``alg`` is required for PEM and allowed for a single JWK; ``kid`` names a PEM key.
    """
    text = _read(path)
    if "-----BEGIN" in text:
        if alg is None:
            raise typer.BadParameter("a PEM key needs --alg (PEM does not name its algorithm)")
        return [JWK.from_pem(text, alg=alg, kid=kid)]
    if kid is not None:
        raise typer.BadParameter("--kid names a PEM key; a JWK or JWKS carries its own")
    try:
        document: Any = json.loads(text)
    except ValueError:
        raise InvalidKey("the key file holds neither PEM nor JSON") from None
    if isinstance(document, dict) and "keys" in document:
        if alg is not None:
            raise typer.BadParameter("--alg applies to one PEM or JWK key, not to a JWKS")
        return document
    return [JWK.from_dict(document, alg=alg)]


def _read(path: Path) -> str:
    with path.open("rb") as f:
        data = f.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InvalidKey(f"the key file is larger than {MAX_KEY_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidKey("the key file is not text (DER is not supported; use PEM)") from None
