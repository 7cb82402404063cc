"""What ``run.py`` prints once the cluster is up: where each part listens, and a curl
walkthrough to paste into another shell."""

from __future__ import annotations

import shlex
from typing import Final

from sqlalchemy.engine import make_url

from examples.cluster.stack import Cluster

HEAD: Final = r"""
Try it from another shell (needs curl and python3):

  export ALICE_PASSWORD=@PASSWORD@
  field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

  # 1. Alice logs in through the proxy (any instance may answer)
  TOKEN=$(curl -s @PROXY@/auth/login -H 'Content-Type: application/json' \
    -d "{\"username\": \"alice\", \"password\": \"$ALICE_PASSWORD\"}" | field access_token)

  # 2. The resource service verifies her token on its own: 200
  curl -s -w ' %{http_code}\n' @SERVICE@/orders -H "Authorization: Bearer $TOKEN"

  # 3. Every instance, asked directly, accepts it: 200 three times
"""
LOGOUT: Final = r"""
  # 4. She logs out through the proxy: 204 from one instance (X-Served-By says which)
  curl -s -o /dev/null -w '%{http_code} %header{x-served-by}\n' -H "Authorization: Bearer $TOKEN" \
    -X POST @PROXY@/auth/logout

  # 5. Every instance refuses the token now, 401 (the others heard of it through Redis)
"""
TAIL: Final = r"""
  # 6. So does the service, 401: the revocation came down its stream
  curl -s -w ' %{http_code}\n' @SERVICE@/orders -H "Authorization: Bearer $TOKEN"
"""


def describe(cluster: Cluster) -> str:
    """Where each part listens, and its log."""
    layout = cluster.layout
    roles = {
        "proxy": "HAProxy, round-robin over the instances; the issuer",
        "service": "the resource service: GET /orders, GET /healthz (its stream)",
    }
    lines = [f"The cluster (logs in {cluster.workdir}):"]
    for process in cluster.processes:
        role = roles.get(process.name, "ostiary serve")
        lines.append(f"  {process.name:<11} {process.url:<23} {role}")
        lines.append(f"  {'':<11} log: {process.log}")
    database = make_url(layout.database_url).render_as_string(hide_password=True)
    lines.append(f"  {'PostgreSQL':<11} {database} (dropped at exit)")
    lines.append(f"  {'Redis':<11} {layout.redis_url}")
    return "\n".join(lines)


def walkthrough(cluster: Cluster) -> str:
    layout = cluster.layout
    me = [
        f"  curl -s -w ' instance-{index} %{{http_code}}\\n' {url}/auth/me \\\n"
        '    -H "Authorization: Bearer $TOKEN"'
        for index, url in enumerate(layout.instance_urls(), start=1)
    ]
    direct = "\n".join(me) + "\n"
    text = HEAD + direct + LOGOUT + direct + TAIL
    replacements = {
        "@PASSWORD@": shlex.quote(cluster.password),
        "@PROXY@": layout.issuer,
        "@SERVICE@": layout.service_url,
    }
    for marker, value in replacements.items():
        text = text.replace(marker, value)
    return text
