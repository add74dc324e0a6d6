"""Signed releases of the cabinet's package and their rollouts to the fleet (docs/releases.md)."""
