"""``ostiary clients``: OAuth clients, for the operator. A generated secret is printed once,
on stdout with the client, and only its SHA-256 is stored: it cannot be shown again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from ostiary.authn.client_registry import ClientRegistry, Registered
from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
)
from ostiary.cli import audit
from ostiary.cli._command_setup import iso, operator_settings, with_storage
from ostiary.cli._options import Limit, Offset
from ostiary.cli._output import fail, print_json
from ostiary.clock import SYSTEM_CLOCK
from ostiary.errors import InvalidClientMetadata, NotFound
from ostiary.storage import Conflict, Storage
from ostiary.storage.records import Client, ClientAuthMethod

if TYPE_CHECKING:
    from ostiary.settings import Settings

#: Far above any real JWK Set; stops a mistaken path from being read into memory whole.
MAX_JWKS_FILE_BYTES: Final = 64 * 1024
SHOWN_ONCE: Final = (
    "The client_secret is shown this once and will not be shown again: only its hash is "
    "stored. Keep it now; `ostiary clients rotate-secret` makes a new one."
)

app = typer.Typer(help="OAuth clients (applications and service accounts).", no_args_is_help=True)
ClientId = Annotated[
    str, typer.Argument(metavar="CLIENT_ID", help="The client id.", show_default=False)
]
Repeatable = list[str] | None


@app.command()
def create(
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help="A name people recognize.", show_default=False),
    ],
    client_id: Annotated[
        str | None,
        typer.Option("--id", metavar="ID", help="The client id. Default: a random cl_... id."),
    ] = None,
    auth_method: Annotated[
        ClientAuthMethod | None,
        typer.Option(
            "--auth-method",
            metavar="METHOD",
            help="How the client authenticates at the token endpoint: client_secret_basic, "
            "client_secret_post, private_key_jwt or none. Default: private_key_jwt with "
            "--jwks-file, else client_secret_basic.",
            show_default=False,
        ),
    ] = None,
    grant_type: Annotated[
        Repeatable,
        typer.Option(
            "--grant-type",
            metavar="GRANT",
            help="authorization_code, refresh_token or client_credentials; repeatable. "
            "Default: authorization_code and refresh_token with --redirect-uri or for a "
            "public client, else client_credentials.",
            show_default=False,
        ),
    ] = None,
    redirect_uri: Annotated[
        Repeatable,
        typer.Option("--redirect-uri", metavar="URI", help="Exact redirect URI; repeatable."),
    ] = None,
    post_logout_redirect_uri: Annotated[
        Repeatable,
        typer.Option(
            "--post-logout-redirect-uri",
            metavar="URI",
            help="Exact URI to send the user to after logout; repeatable.",
        ),
    ] = None,
    scope: Annotated[
        Repeatable,
        typer.Option(
            "--scope", metavar="SCOPE", help="A scope the client may ask for; repeatable."
        ),
    ] = None,
    audience: Annotated[
        Repeatable,
        typer.Option(
            "--audience", metavar="AUDIENCE", help="An audience it may ask tokens for; repeatable."
        ),
    ] = None,
    first_party: Annotated[
        bool, typer.Option("--first-party", help="Trusted: its users see no consent page.")
    ] = False,
    jwks_file: Annotated[
        Path | None,
        typer.Option(
            "--jwks-file",
            metavar="FILE",
            help="The client's public JWK Set (or one public JWK), for private_key_jwt.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    backchannel_logout_uri: Annotated[
        str | None,
        typer.Option(
            "--backchannel-logout-uri",
            metavar="URI",
            help="Where the server POSTs a Logout Token when a user's session with the client "
            "ends (OpenID Connect Back-Channel Logout).",
        ),
    ] = None,
    no_backchannel_logout_session_required: Annotated[
        bool,
        typer.Option(
            "--no-backchannel-logout-session-required",
            help="The client does not need sid in each Logout Token (Ostiary sends it anyway).",
        ),
    ] = False,
    backchannel_logout_session_required: Annotated[
        bool,
        typer.Option(
            "--backchannel-logout-session-required",
            hidden=True,  # the default; kept for the scripts that say so
            help="The client needs sid in each Logout Token (the default).",
        ),
    ] = False,
    dpop_bound_access_tokens: Annotated[
        bool,
        typer.Option(
            "--dpop-bound-access-tokens",
            help="Refuse the client's token requests without a DPoP proof, so that all its "
            "access tokens are bound to its key (RFC 9449 §5.2).",
        ),
    ] = False,
) -> None:
    """Register a client; print it, with its secret (once) if it has one."""
    if backchannel_logout_session_required and no_backchannel_logout_session_required:
        raise typer.BadParameter(
            "give one of them", param_hint="'--[no-]backchannel-logout-session-required'"
        )
    settings = operator_settings()
    jwks = read_jwks(jwks_file) if jwks_file is not None else None
    redirects = tuple(redirect_uri or ())
    if auth_method is None:
        auth_method = (
            ClientAuthMethod.PRIVATE_KEY_JWT
            if jwks is not None
            else ClientAuthMethod.CLIENT_SECRET_BASIC
        )
    if grant_type:
        grants = frozenset(grant_type)
    elif redirects or auth_method is ClientAuthMethod.NONE:
        grants = frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN})
    else:
        grants = frozenset({CLIENT_CREDENTIALS})
    wanted = ClientSettings(
        name=name,
        auth_method=auth_method,
        grant_types=grants,
        redirect_uris=redirects,
        post_logout_redirect_uris=tuple(post_logout_redirect_uri or ()),
        scopes=frozenset(scope or ()),
        audiences=frozenset(audience or ()),
        first_party=first_party,
        jwks=jwks,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=not no_backchannel_logout_session_required,
        dpop_bound_access_tokens=dpop_bound_access_tokens,
    )

    async def work(storage: Storage) -> Registered:
        try:
            registered = await _registry(settings, storage).create(wanted, client_id=client_id)
        except Conflict:
            taken = f"The client id {client_id!r} is taken." if client_id else "The id is taken."
            raise InvalidClientMetadata(taken) from None
        await audit.record(storage, "client.create", subject=registered.client.id)
        return registered

    _print_registered(with_storage(settings, work))


@app.command("list")
def list_clients(offset: Offset = 0, limit: Limit = 100) -> None:
    """List clients, oldest first."""
    settings = operator_settings()

    async def work(storage: Storage) -> list[dict[str, Any]]:
        clients = await _registry(settings, storage).list(offset=offset, limit=limit)
        return [describe_client(c) for c in clients]

    print_json(with_storage(settings, work))


@app.command()
def show(client_id: ClientId) -> None:
    """Show one client (never its secret: only a hash of it is kept)."""
    settings = operator_settings()

    async def work(storage: Storage) -> Client:
        return await _registry(settings, storage).require(client_id)

    print_json(describe_client(with_storage(settings, work)))


@app.command("rotate-secret")
def rotate_secret(client_id: ClientId) -> None:
    """Give a client_secret_* client a new secret (printed once); the old one stops working."""
    settings = operator_settings()

    async def work(storage: Storage) -> Registered:
        registered = await _registry(settings, storage).rotate_secret(client_id)
        await audit.record(storage, "client.rotate_secret", subject=client_id)
        return registered

    _print_registered(with_storage(settings, work))


@app.command("require-dpop")
def require_dpop(
    client_id: ClientId,
    off: Annotated[
        bool, typer.Option("--off", help="Stop requiring it: proofs become optional again.")
    ] = False,
) -> None:
    """Refuse the client's token requests without a DPoP proof (RFC 9449 §5.2
    dpop_bound_access_tokens), or with --off stop refusing them."""
    settings = operator_settings()

    async def work(storage: Storage) -> Client:
        updated = await _registry(settings, storage).set_dpop_bound_access_tokens(
            client_id, not off
        )
        data = {"dpop_bound_access_tokens": str(not off).lower()}
        await audit.record(storage, "client.dpop", subject=client_id, data=data)
        return updated

    print_json(describe_client(with_storage(settings, work)))


@app.command()
def delete(client_id: ClientId) -> None:
    """Delete a client: it can no longer authenticate or get new tokens."""
    settings = operator_settings()

    async def work(storage: Storage) -> None:
        if not await _registry(settings, storage).delete(client_id):
            raise NotFound(f"There is no client {client_id}.")
        await audit.record(storage, "client.delete", subject=client_id)

    with_storage(settings, work)
    print_json({"id": client_id, "deleted": True})


# --- helpers -------------------------------------------------------------------------------


def describe_client(client: Client) -> dict[str, Any]:
    """The client for people and scripts: everything but the secret's hash."""
    return {
        "id": client.id,
        "name": client.name,
        "auth_method": client.auth_method.value,
        "grant_types": sorted(client.grant_types),
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scopes": sorted(client.scopes),
        "audiences": sorted(client.audiences),
        "first_party": client.first_party,
        "has_secret": client.secret_hash is not None,
        "jwks": json.loads(client.jwks) if client.jwks is not None else None,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "created_at": iso(client.created_at),
        "updated_at": iso(client.updated_at),
    }


def read_jwks(path: Path) -> dict[str, Any]:
    """The JWK Set in ``path``; one JWK is taken as a set of one. Exit 1 if it is not JSON."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_JWKS_FILE_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if len(data) > MAX_JWKS_FILE_BYTES:
        fail(f"{path} is larger than {MAX_JWKS_FILE_BYTES} bytes")
    try:
        document = json.loads(data)
    except ValueError:
        fail(f'{path} is not JSON: a JWK Set is {{"keys": [...]}}')
    if isinstance(document, dict) and "keys" not in document and "kty" in document:
        return {"keys": [document]}
    if not isinstance(document, dict):
        fail(f'{path} is not a JWK Set: it is {{"keys": [...]}}')
    return document


def _registry(settings: Settings, storage: Storage) -> ClientRegistry:
    """The registry the server uses: the same audience rules, and deleting a client ends its
    refresh families and access tokens."""
    from ostiary.wiring import cli_lifecycle, client_registry

    lifecycle = cli_lifecycle(settings, storage)
    return client_registry(settings, storage, lifecycle, clock=SYSTEM_CLOCK)


def _print_registered(registered: Registered) -> None:
    described = describe_client(registered.client)
    if registered.secret is None:
        print_json(described)
        return
    print_json({**described, "client_secret": registered.secret})
    typer.echo(SHOWN_ONCE, err=True)
