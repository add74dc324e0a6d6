"""Signed updates from the fleet, the daemon's side (docs/updates.md): take an offered release, download
and check it, and hand it to the privileged update unit at a quiet moment."""
