"""Runnable examples of Ostiary; see each folder's README."""
