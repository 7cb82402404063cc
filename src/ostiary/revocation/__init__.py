"""Revocation, in one place: an access token cannot be recalled once issued, so its refusal is
published instead (by ``jti``, by session ``sid``, or by user with a "not before" time) and
every verifier applies it.

- :mod:`ostiary.revocation.known`: ``RevocationList``, the revocations a verifier knows of.
  The only part the resource toolkit imports (``ostiary.resource`` exports it); it imports
  nothing but ``ostiary.access_claims``.
- :mod:`ostiary.revocation.service`: ``Revocations``, the server's side: writes entries to the
  store, keeps the issuer's own ``RevocationList`` in step, serves the feed's pages.
- :mod:`ostiary.revocation.broadcast`: ``RevocationBroadcast``, pushing entries to this
  process's open revocation streams.
- :mod:`ostiary.revocation.relay`: ``RevocationRelay``, between processes and instances: a
  notice on the ``RevocationNotices`` channel wakes the others, who read the store.
- :mod:`ostiary.revocation.client_requests`: ``ClientTokenRevocation``, what a client's
  revocation request does (RFC 7009); it sits above ``ostiary.tokens`` (introspection, the
  session lifecycle), the rest of the package below it.

Elsewhere: the toolkit's follower side is ``ostiary.resource.feed`` (pull) and
``ostiary.resource.stream`` (push); the HTTP side is ``ostiary.server.routes.revocation_feed``
(``GET /auth/revocations``), ``ostiary.server.routes.revocation_stream``
(``GET /auth/revocations/stream``) and ``ostiary.server.routes.oauth`` (``POST /oauth/revoke``,
RFC 7009). Nothing here imports a web framework.

This module imports nothing, so that importing :mod:`ostiary.revocation.known` stays light.
"""
