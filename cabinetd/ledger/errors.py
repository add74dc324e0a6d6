"""The ledger's one exception type."""

from __future__ import annotations


class LedgerError(Exception):
    """The ledger refused or could not do something; the message names the event type and field,
    the file, or the seq it is about."""
