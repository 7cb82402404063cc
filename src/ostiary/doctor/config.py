"""The checks ``ostiary doctor`` makes on the settings alone: no storage, no network."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

from ostiary.clock import DAY
from ostiary.doctor._check import Check, failed, is_loopback, passed, warned
from ostiary.errors import ConfigurationError
from ostiary.jose.algorithms import MIN_RSA_BITS
from ostiary.keys.encryption import MasterKey
from ostiary.keys.master_file import MASTER_KEY_FILE
from ostiary.settings import Settings

MINUTE: Final = 60
HOUR: Final = 3600
#: A master key of 32 random bytes has about 30 distinct byte values; fewer than this many
#: happens by chance less than once in a million keys, so the key was not made at random.
MIN_DISTINCT_MASTER_KEY_BYTES: Final = 20
MAX_REFRESH_ABSOLUTE_WARN: Final = 90 * DAY
MAX_REFRESH_ABSOLUTE_FAIL: Final = 365 * DAY
MAX_LEEWAY: Final = 60
NEW_MASTER_KEY: Final = "make one with `ostiary keys master-key` and set OSTIARY_MASTER_KEY"


def check_issuer(settings: Settings) -> Check:
    """Tokens name their issuer, and browsers and clients reach it: HTTPS outside a laptop."""
    name, issuer = "issuer", settings.issuer
    scheme = urlsplit(issuer).scheme
    fix = "set OSTIARY_ISSUER to the public https:// URL (TLS at a proxy in front)"
    if scheme == "https":
        return passed(name, f"{issuer} (https)")
    if scheme == "http" and is_loopback(issuer):
        return warned(name, f"{issuer}: plain HTTP on this machine only", fix)
    if scheme == "http" and settings.dev_mode:
        return warned(name, f"{issuer}: plain HTTP, allowed only because dev mode is on", fix)
    return failed(name, f"{issuer}: not https", fix)


def check_mode(settings: Settings) -> Check:
    """Dev and demo mode generate the master key into a file (demo mode also seeds users with
    known names): a developer's machine only."""
    name = "mode"
    if not settings.dev_mode:
        return passed(name, "production (dev and demo mode off)")
    mode = "demo mode" if settings.demo else "dev mode"
    fix = "unset OSTIARY_DEV and OSTIARY_DEMO (and do not pass --demo) in production"
    if is_loopback(settings.issuer):
        return warned(name, f"{mode} on, with a loopback issuer", fix)
    return failed(name, f"{mode} on, with the non-loopback issuer {settings.issuer}", fix)


def check_master_key(settings: Settings) -> Check:
    """The key that seals the signing keys: set, and 32 bytes that look random. Never shown."""
    name = "master key"
    if settings.master_key is None:
        if settings.dev_mode:
            where = settings.dev_key_dir / MASTER_KEY_FILE
            return warned(name, f"OSTIARY_MASTER_KEY unset; dev mode uses {where}", NEW_MASTER_KEY)
        return failed(name, "OSTIARY_MASTER_KEY is not set", NEW_MASTER_KEY)
    text = settings.master_key.get_secret_value()
    try:
        master = MasterKey.from_text(text)
    except ConfigurationError as exc:  # the description never quotes the key
        return failed(name, f"OSTIARY_MASTER_KEY is invalid: {exc.description}", NEW_MASTER_KEY)
    if distinct_bytes(text) < MIN_DISTINCT_MASTER_KEY_BYTES:
        return warned(name, "32 bytes, but too regular to be random", NEW_MASTER_KEY)
    return passed(name, f"set, 32 bytes (id {master.key_id})")


def distinct_bytes(text: str) -> int:
    """How many different byte values the (valid) base64url master key text decodes to."""
    value = text.strip()
    return len(set(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))))


def check_signing_alg(settings: Settings) -> Check:
    """A shared-secret algorithm cannot be published: only this server can verify."""
    name, alg = "signing algorithm", settings.signing_alg
    if alg.startswith("HS"):
        return warned(
            name,
            f"{alg} is a shared secret, never published in the JWKS: resource servers cannot "
            "verify the access tokens, only this server can",
            "set OSTIARY_SIGNING_ALG=ES256 (or EdDSA, RS256, PS256), then `ostiary keys rotate`",
        )
    return passed(name, f"{alg} (ID tokens: {settings.id_token_signing_alg})")


def check_rsa_bits(settings: Settings) -> Check:
    """RSA keys under 2048 bits are breakable (NIST SP 800-57, RFC 7518 §3.3)."""
    name, bits = "RSA key size", settings.rsa_key_bits
    algs = (settings.signing_alg, settings.id_token_signing_alg)
    uses = [a for a in algs if a.startswith(("RS", "PS"))]
    if not uses:
        return passed(name, f"{bits} bits (no RSA algorithm configured)")
    if bits < MIN_RSA_BITS:
        return failed(name, f"{bits} bits", f"set OSTIARY_RSA_KEY_BITS to at least {MIN_RSA_BITS}")
    return passed(name, f"{bits} bits for {', '.join(sorted(set(uses)))}")


def check_access_ttl(settings: Settings) -> Check:
    """An access token cannot be recalled from a resource server that does not check
    revocations: it must be short."""
    name, ttl = "access token lifetime", settings.access_token_ttl
    fix = "set OSTIARY_ACCESS_TOKEN_TTL to 900 (15 minutes) or less"
    if ttl <= 15 * MINUTE:
        return passed(name, f"{ttl} s")
    if ttl <= HOUR:
        return warned(name, f"{ttl} s, over 15 minutes", fix)
    return failed(name, f"{ttl} s, over an hour", fix)


def check_refresh_ttl(settings: Settings) -> Check:
    """A session's absolute and idle lifetimes."""
    name = "refresh token lifetimes"
    absolute, idle = settings.refresh_absolute_ttl, settings.refresh_idle_ttl
    found = f"absolute {absolute / DAY:g} days, idle {idle / DAY:g} days"
    if absolute > MAX_REFRESH_ABSOLUTE_FAIL:
        return failed(name, f"{found}: over a year", "set OSTIARY_REFRESH_ABSOLUTE_TTL to 90 days")
    if absolute > MAX_REFRESH_ABSOLUTE_WARN:
        return warned(name, f"{found}: over 90 days", "set OSTIARY_REFRESH_ABSOLUTE_TTL lower")
    if absolute <= settings.access_token_ttl:
        return warned(
            name,
            f"{found}: a session ends before its first access token expires",
            "set OSTIARY_REFRESH_ABSOLUTE_TTL well above OSTIARY_ACCESS_TOKEN_TTL",
        )
    if idle == absolute:
        return warned(
            name,
            f"{found}: no idle timeout (idle equals absolute)",
            "set OSTIARY_REFRESH_IDLE_TTL below OSTIARY_REFRESH_ABSOLUTE_TTL",
        )
    return passed(name, found)


def check_leeway(settings: Settings) -> Check:
    """Clock-skew tolerance: every second of it is a second an expired token still works."""
    name, leeway = "leeway", settings.leeway
    if leeway <= MAX_LEEWAY:
        return passed(name, f"{leeway} s")
    return warned(
        name, f"{leeway} s, over {MAX_LEEWAY} s", "sync the clocks (NTP), set OSTIARY_LEEWAY=30"
    )


def check_cookies(settings: Settings) -> Check:
    """The flags the server's browser cookies get (:class:`~ostiary.authn.cookies.Cookies`)."""
    from ostiary.authn.cookies import Cookies  # imports the server app: only when asked

    name, cookies = "cookies", Cookies(settings.issuer, dev_mode=settings.dev_mode)
    https = urlsplit(settings.issuer).scheme == "https"
    if cookies.secure and https:
        return passed(name, f"{cookies.sso}: Secure, HttpOnly, SameSite=Lax")
    if cookies.secure:
        return failed(
            name,
            f"{cookies.sso} is Secure but the issuer is plain HTTP: browsers may drop it, and "
            "sign-in at /oauth/authorize then keeps no session",
            "serve over HTTPS and set OSTIARY_ISSUER to the https:// URL",
        )
    return warned(
        name,
        f"{cookies.sso} without Secure or __Host- (dev mode, plain-HTTP loopback issuer)",
        "serve over HTTPS in production",
    )


def check_cors(settings: Settings) -> Check:
    """Which web origins may read the server's answers cross-origin (``OSTIARY_CORS_ORIGINS``)
    or use the refresh cookie of browser mode (``OSTIARY_BROWSER_ORIGINS``)."""
    name = "CORS"
    if not has_setting(settings, "cors_origins"):
        return passed(name, "not configured: no cross-origin access")
    origins = [
        *origin_list(getattr(settings, "cors_origins", None)),
        *origin_list(getattr(settings, "browser_origins", None)),
    ]
    if not origins:
        return passed(name, "no origins allowed")
    fix = "list only each web app's https:// origin in OSTIARY_CORS_ORIGINS"
    if "*" in origins:  # refused by the settings; a copy made without validation could hold it
        return failed(name, "`*`: every web site may call the token endpoints", fix)
    plain = [o for o in origins if urlsplit(o).scheme != "https"]
    if any(not is_loopback(o) for o in plain):
        return failed(name, f"not https: {', '.join(plain)}", fix)
    credentials = ", with credentials" if getattr(settings, "cors_allow_credentials", 0) else ""
    if plain:
        return warned(name, f"plain-HTTP loopback origins{credentials}: {', '.join(plain)}", fix)
    return passed(name, f"{', '.join(origins)}{credentials}")


def has_setting(settings: Settings, name: str) -> bool:
    """Whether this version of the settings has ``name`` (some checks cover optional ones)."""
    return name in type(settings).model_fields


def origin_list(value: object) -> list[str]:
    """The origins of a setting, whether a list or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [o for o in value.replace(",", " ").split() if o]
    if isinstance(value, list | tuple | set | frozenset):
        return [str(o).strip() for o in value if str(o).strip()]
    return [str(value)]


def check_rate_limits(settings: Settings) -> Check:
    """Login and token endpoints must slow down password guessing."""
    name = "rate limits"
    fix = "set OSTIARY_RATE_LIMITS_ENABLED=true, or rate-limit /auth and /oauth at a proxy"
    if not has_setting(settings, "rate_limits_enabled"):
        return warned(
            name,
            "no rate limiting configured",
            "rate-limit /auth/login, /auth/register and /oauth/token at a reverse proxy",
        )
    if getattr(settings, "rate_limits_enabled", False):
        return passed(name, "on")
    return warned(name, "off", fix)


def check_registration(settings: Settings) -> Check:
    """Open registration lets anyone on the Internet create an account."""
    name = "registration"
    if not settings.registration_enabled:
        return passed(name, "closed (accounts are made with `ostiary users create`)")
    if settings.dev_mode:
        return passed(name, "open (dev mode)")
    return warned(
        name,
        "open: anyone who reaches POST /auth/register gets an account",
        "set OSTIARY_REGISTRATION_ENABLED=false unless self-service sign-up is intended",
    )


#: Every settings-only check, in the order they are printed.
CONFIG_CHECKS: Final[tuple[Callable[[Settings], Check], ...]] = (
    check_issuer,
    check_mode,
    check_master_key,
    check_signing_alg,
    check_rsa_bits,
    check_access_ttl,
    check_refresh_ttl,
    check_leeway,
    check_cookies,
    check_cors,
    check_rate_limits,
    check_registration,
)
