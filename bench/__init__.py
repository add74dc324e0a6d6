"""Benchmarks: `python -m bench NAME [--json] [options]`, each a module here with `main(argv) -> dict`."""
