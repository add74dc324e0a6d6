"""App packages (APKs) the fleet keeps for the cabinets: docs/app-packages.md."""
