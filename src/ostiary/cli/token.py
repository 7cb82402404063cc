"""``ostiary token``: look inside a token, or verify it the way a resource server would."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from ostiary.cli._keyfile import load_keys
from ostiary.cli._output import describe, fail, note, print_json, token_failures
from ostiary.cli._times import describe_times
from ostiary.errors import InvalidToken, OstiaryError
from ostiary.jose import DEFAULT_LEEWAY
from ostiary.jose.inspect import INSPECT_MAX_SIZE, inspect_compact
from ostiary.resource import AccessClaims, TokenVerifier

#: The choices of ``verify --alg``; a test keeps them equal to ``ostiary.jose.ALGORITHMS``.
VerifyAlg = Literal[
    "ES256", "ES384", "EdDSA", "Ed25519", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "HS256", "HS384", "HS512",
]  # fmt: skip
NOT_CHECKED = "decoded only; the signature, issuer, audience and times were NOT checked"
_TOKEN_HELP = "The compact JWT, or - to read it from stdin (keeps it out of ps and shell history)."

app = typer.Typer(help="Access tokens.", no_args_is_help=True)
TokenArg = Annotated[str, typer.Argument(metavar="TOKEN", help=_TOKEN_HELP, show_default=False)]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key",
        metavar="FILE",
        help="A JWK, JWKS or PEM public key file.",
        exists=True,
        dir_okay=False,
    ),
]
PemAlg = Annotated[
    VerifyAlg | None,
    typer.Option("--alg", metavar="ALG", help="Algorithm of a PEM --key, e.g. ES256 or RS256."),
]
PemKid = Annotated[
    str | None,
    typer.Option("--kid", metavar="KID", help="kid of a PEM --key; default: thumbprint."),
]
Leeway = Annotated[
    float,
    typer.Option(min=0, max=300, metavar="SECONDS", help="Clock skew allowed (0 to 300)."),
]


@app.command()
def decode(token: TokenArg) -> None:
    """Show a token's header and claims WITHOUT verifying anything."""
    try:
        header, claims = inspect_compact(_read_token(token))
    except InvalidToken as exc:
        fail(f"cannot decode the token: {describe(exc)}")
    note(f"UNVERIFIED: {NOT_CHECKED}")
    times = describe_times(claims, time.time())
    print_json({"UNVERIFIED": NOT_CHECKED, "header": header, "claims": claims, "times": times})


@app.command()
def verify(
    token: TokenArg,
    issuer: Annotated[
        str, typer.Option(metavar="URL", help="The one issuer accepted (exact match).")
    ],
    audience: Annotated[
        list[str], typer.Option(metavar="AUDIENCE", help="An accepted audience; repeatable.")
    ],
    jwks_url: Annotated[
        str | None, typer.Option(metavar="URL", help="Fetch the issuer's JWKS here.")
    ] = None,
    key: KeyFile = None,
    alg: PemAlg = None,
    kid: PemKid = None,
    leeway: Leeway = DEFAULT_LEEWAY,
) -> None:
    """Verify a token like a resource server: signature, type, issuer, audience, times."""
    if (jwks_url is None) == (key is None):
        raise typer.BadParameter("give exactly one of them", param_hint="'--jwks-url' / '--key'")
    try:
        verifier = TokenVerifier(
            issuer=issuer,
            audience=audience,
            jwks_url=jwks_url,
            keys=load_keys(key, alg=alg, kid=kid) if key is not None else None,
            leeway=leeway,
        )
    except OstiaryError as exc:
        fail(describe(exc))
    except ValueError as exc:  # ClaimRules refusing an empty issuer or audience
        raise typer.BadParameter(str(exc)) from None
    claims = _verified(verifier, _read_token(token))
    typer.echo("verified: signature, type, issuer, audience and times are valid", err=True)
    print_json(dict(claims.raw))


def _verified(verifier: TokenVerifier, token: str) -> AccessClaims:
    """The token's claims, or exit 1 after printing every check that failed."""
    try:
        return verifier.verify_sync(token)
    except InvalidToken as exc:
        fail("the token is NOT valid:", lines=token_failures(exc))
    except OstiaryError as exc:  # no keys: the JWKS could not be fetched
        fail(describe(exc))


def _read_token(token: str) -> str:
    """The token argument, or stdin for ``-``; surrounding whitespace is dropped."""
    text = sys.stdin.read(INSPECT_MAX_SIZE + 1) if token == "-" else token
    text = text.strip()
    if not text:
        fail("no token given")
    return text
