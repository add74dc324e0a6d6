"""The cabinet's app package cache and its downloads from the cloud (docs/app-packages.md)."""
