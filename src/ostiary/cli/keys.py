"""``ostiary keys``: make signing keys, list and rotate the server's, make a master key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import typer

from ostiary.cli._command_setup import iso, operator_settings, with_storage
from ostiary.cli._dev_folder import NOT_THIS_DATABASE, dev_key_file, has_stray_dev_key
from ostiary.cli._output import USAGE, describe, fail, print_json, warn
from ostiary.clock import SYSTEM_CLOCK
from ostiary.errors import OstiaryError
from ostiary.keys import DEFAULT_RSA_BITS, MIN_RSA_BITS, MasterKey, generate_key
from ostiary.storage import Storage
from ostiary.storage.records import StoredKey

if TYPE_CHECKING:
    from ostiary.settings import Settings

#: The choices of ``--alg``; a test keeps them equal to ``ostiary.keys.GENERATED_ALGORITHMS``.
GeneratedAlg = Literal["ES256", "EdDSA", "RS256", "PS256", "HS256", "HS384", "HS512"]
NO_MASTER_KEY: Final = (
    "OSTIARY_MASTER_KEY is not set: set it to the master key the server runs with, the one "
    "that sealed the stored signing keys (a new one would not open them). Only a new "
    "deployment makes one, with `ostiary keys master-key`."
)

app = typer.Typer(
    help="Signing keys (generate, list, rotate) and the master key.", no_args_is_help=True
)


@app.command()
def generate(
    alg: Annotated[
        GeneratedAlg,
        typer.Option(
            metavar="ALG",
            help="The one algorithm the key is for: ES256, EdDSA, RS256, PS256, HS256, HS384 "
            "or HS512.",
        ),
    ] = "ES256",
    rsa_bits: Annotated[
        int,
        typer.Option(
            min=MIN_RSA_BITS, metavar="BITS", help="RSA modulus size (RS256, PS256 only)."
        ),
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
    """The signing keys in the database: what each signs (access or ID tokens), next, active
    or retired (no secret is shown)."""
    settings = operator_settings()

    async def work(storage: Storage) -> list[dict[str, Any]]:
        return [describe_key(k, settings) for k in await storage.keys.list()]

    print_json(with_storage(settings, work))


@app.command()
def rotate() -> None:
    """Rotate the access-token key now: the next key (made if there is none) signs, the
    active one is retired (the ID-token key keeps its own schedule).

    Needs the master key the server runs with: OSTIARY_MASTER_KEY, or the dev key file in
    dev mode (and in the folder where `ostiary serve --demo` ran). Running servers start
    signing with the new key within a minute."""
    from ostiary.wiring import key_service

    settings = operator_settings()
    master = master_key_or_fail(settings)

    async def work(storage: Storage) -> list[dict[str, Any]]:
        from ostiary.audit import OPERATOR, AuditTrail, key_listener

        trail = AuditTrail(storage.audit, clock=SYSTEM_CLOCK)
        on_event = key_listener(trail, actor=OPERATOR)
        await key_service(settings, storage, master, clock=SYSTEM_CLOCK, on_event=on_event).rotate()
        await trail.drain()  # the rotation's events, stored before the storage closes
        return [describe_key(k, settings) for k in await storage.keys.list()]

    print_json(with_storage(settings, work))


def signs(alg: str, settings: Settings) -> list[str]:
    """What a key of ``alg`` signs: ``access_token`` (OSTIARY_SIGNING_ALG, and any algorithm no
    longer configured: the access-token keys' schedule retires those), ``id_token``
    (OSTIARY_ID_TOKEN_SIGNING_ALG), or both when the two are the same."""
    if settings.id_token_signing_alg == settings.signing_alg:
        return ["access_token", "id_token"] if alg == settings.signing_alg else ["access_token"]
    return ["id_token"] if alg == settings.id_token_signing_alg else ["access_token"]


def master_key_or_fail(settings: Settings) -> MasterKey:
    """The master key the server runs with, or exit: 2 when there is none (a new one would
    not open the stored keys, so the advice is to find the server's), 1 when it is invalid."""
    from ostiary.wiring import load_master_key

    if settings.master_key is None and not settings.dev_mode:
        hint = [NO_MASTER_KEY]
        if has_stray_dev_key(settings):
            hint.append(NOT_THIS_DATABASE.format(key=dev_key_file(settings)))
        fail("\n".join(hint), code=USAGE)
    try:
        return load_master_key(settings)
    except OstiaryError as exc:
        fail(describe(exc))


def describe_key(key: StoredKey, settings: Settings) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "signs": signs(key.alg, settings),
        "status": key.status.value,
        "created_at": iso(key.created_at),
        "activated_at": iso(key.activated_at),
        "retired_at": iso(key.retired_at),
    }
