"""The curl walkthrough the demo prints at start (and the README shows): log in, call the
API, refresh, reuse detected, log out, refused."""

from __future__ import annotations

from typing import Final

_STEPS: Final = r"""
Try it from another shell (needs curl and python3):

  @PASSWORD@
  field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
  login() {
    curl -s @BASE@/auth/login -H 'Content-Type: application/json' \
      -d "{\"username\": \"alice\", \"password\": \"$ALICE_PASSWORD\"}"
  }

  # 1. Log in: a short-lived access token and a refresh token
  login > login.json; cat login.json; echo
  ACCESS=$(field access_token < login.json); REFRESH=$(field refresh_token < login.json)

  # 2. Call the API with the access token
  curl -s @BASE@/api/profile -H "Authorization: Bearer $ACCESS"; echo
  curl -s @BASE@/api/reports -H "Authorization: Bearer $ACCESS"; echo   # 403: no reports:read

  # 3. Refresh, twice, as an app does over time: each refresh token is used up
  curl -s @BASE@/auth/refresh -H 'Content-Type: application/json' \
    -d "{\"refresh_token\": \"$REFRESH\"}" > refreshed.json; cat refreshed.json; echo
  NEXT=$(field refresh_token < refreshed.json)
  curl -s @BASE@/auth/refresh -H 'Content-Type: application/json' \
    -d "{\"refresh_token\": \"$NEXT\"}" > refreshed.json
  ACCESS=$(field access_token < refreshed.json)

  # 4. Present the first refresh token again: reuse detected, the whole session is revoked
  #    (a retry within 10 s, before the next refresh, gets the same answer: a lost response)
  curl -s @BASE@/auth/refresh -H 'Content-Type: application/json' \
    -d "{\"refresh_token\": \"$REFRESH\"}"; echo                           # 400 invalid_grant
  curl -s @BASE@/api/profile -H "Authorization: Bearer $ACCESS"; echo   # 401: revoked with it

  # 5. Log in again, then log out
  login > login.json; ACCESS=$(field access_token < login.json)
  curl -s -o /dev/null -w '%{http_code}\n' -X POST @BASE@/auth/logout \
    -H "Authorization: Bearer $ACCESS"                                    # 204

  # 6. The access token is refused at once
  curl -s @BASE@/api/profile -H "Authorization: Bearer $ACCESS"; echo   # 401 revoked

  # Any service verifies tokens with the public keys:
  curl -s @BASE@/.well-known/jwks.json; echo
"""


def walkthrough(base_url: str, *, password_line: str) -> str:
    """The walkthrough for a server at ``base_url``; ``password_line`` sets $ALICE_PASSWORD."""
    return _STEPS.replace("@BASE@", base_url.rstrip("/")).replace("@PASSWORD@", password_line)
