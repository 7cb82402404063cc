"""Three ``ostiary serve`` instances on PostgreSQL and Redis behind HAProxy, and a resource
service following the revocation stream: ``python examples/cluster/run.py`` (see README.md)."""
