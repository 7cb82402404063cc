"""Ostiary: JWT authentication server and resource-server toolkit."""
