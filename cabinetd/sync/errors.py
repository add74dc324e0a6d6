"""The cabinet's one exception type for sync."""

from __future__ import annotations


class SyncError(Exception):
    """The cabinet could not sync with the cloud; the message names the endpoint or file."""
