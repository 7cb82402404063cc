"""``ostiary keys``: make signing keys."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from ostiary.cli._output import fail, print_json, warn
from ostiary.errors import OstiaryError
from ostiary.keys import DEFAULT_RSA_BITS, MIN_RSA_BITS, generate_key

#: The choices of ``--alg``; a test keeps them equal to ``ostiary.keys.GENERATED_ALGORITHMS``.
GeneratedAlg = Literal["ES256", "EdDSA", "RS256", "PS256", "HS256", "HS384", "HS512"]

app = typer.Typer(help="Signing keys.", no_args_is_help=True)


@app.command()
def generate(
    alg: Annotated[GeneratedAlg, typer.Option(help="The one algorithm the key is for.")] = "ES256",
    rsa_bits: Annotated[
        int, typer.Option(min=MIN_RSA_BITS, help="RSA modulus size (RS256, PS256 only).")
    ] = DEFAULT_RSA_BITS,
    private: Annotated[
        bool, typer.Option("--private", help="Print the private key, not its public half.")
    ] = False,
) -> None:
    """Generate a key and print it as a JWK (the public half unless --private)."""
    try:
        key = generate_key(alg, rsa_bits=rsa_bits)
    except OstiaryError as exc:
        fail(exc.description)
    if key.is_symmetric and not private:
        raise typer.BadParameter(
            f"{alg} keys are shared secrets with no public form; add --private to print one",
            param_hint="'--alg'",
        )
    if private:
        warn("the output holds a PRIVATE key: keep it secret, never publish or commit it")
        print_json(key.private_dict())
    else:
        print_json(key.public_dict())
