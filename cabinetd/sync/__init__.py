"""Sync with the cloud: the ledger's events up, the fleet's roster and commands down."""
