"""``ostiary keys``: make signing keys, list and rotate the server's, make a master key."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from ostiary.cli._output import describe, fail, print_json, warn
from ostiary.cli._server import iso, load_settings, with_storage
from ostiary.clock import SYSTEM_CLOCK
from ostiary.errors import OstiaryError
from ostiary.keys import DEFAULT_RSA_BITS, MIN_RSA_BITS, MasterKey, generate_key
from ostiary.storage import Storage
from ostiary.storage.records import StoredKey

#: The choices of ``--alg``; a test keeps them equal to ``ostiary.keys.GENERATED_ALGORITHMS``.
GeneratedAlg = Literal["ES256", "EdDSA", "RS256", "PS256", "HS256", "HS384", "HS512"]

app = typer.Typer(
    help="Signing keys (generate, list, rotate) and the master key.", no_args_is_help=True
)


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


@app.command("master-key")
def master_key() -> None:
    """Print a new random master key, for OSTIARY_MASTER_KEY."""
    warn("this is a SECRET: store it where the server reads OSTIARY_MASTER_KEY, keep a copy")
    typer.echo(MasterKey.new_text())


@app.command("list")
def list_keys() -> None:
    """The signing keys in the database: next, active, retired (no secret is shown)."""
    settings = load_settings()

    async def work(storage: Storage) -> list[dict[str, Any]]:
        return [describe_key(k) for k in await storage.keys.list()]

    print_json(with_storage(settings, work))


@app.command()
def rotate() -> None:
    """Rotate now: the next key (made if there is none) signs, the active one is retired.

    Needs the master key (OSTIARY_MASTER_KEY, or OSTIARY_DEV=true for the dev key file).
    Running servers start signing with the new key within a minute."""
    from ostiary.wiring import key_service, load_master_key

    settings = load_settings()
    try:
        master = load_master_key(settings)
    except OstiaryError as exc:
        fail(describe(exc))

    async def work(storage: Storage) -> list[dict[str, Any]]:
        from ostiary.audit import OPERATOR, AuditTrail, key_listener

        trail = AuditTrail(storage.audit, clock=SYSTEM_CLOCK)
        on_event = key_listener(trail, actor=OPERATOR)
        await key_service(settings, storage, master, clock=SYSTEM_CLOCK, on_event=on_event).rotate()
        await trail.drain()  # the rotation's events, stored before the storage closes
        return [describe_key(k) for k in await storage.keys.list()]

    print_json(with_storage(settings, work))


def describe_key(key: StoredKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "status": key.status.value,
        "created_at": iso(key.created_at),
        "activated_at": iso(key.activated_at),
        "retired_at": iso(key.retired_at),
    }
