"""Reading the layered TOML files into a `CabinetConfig`.

Layers, later ones overriding earlier ones key by key (an array, such as `modules`, is replaced whole):
the packaged defaults (the models' own defaults in config.py), then `/etc/cabinetd/cabinetd.toml`
(or each `--config PATH` in the order given), then `/etc/cabinetd/conf.d/*.toml` in name order.
Every error is one line naming the file and key path.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from cabinetd.config import UNION_TAGS, CabinetConfig, KeyPath, path_text
from cabinetd.configchecks import cross_checks

DEFAULTS_NAME = "<defaults>"
CONFIG_DIR_ENV = "CABINETD_CONFIG_DIR"  # moves /etc/cabinetd, for tests and packaging


class ConfigError(Exception):
    """One or more problems, each a line `FILE: KEY.PATH: problem`."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def config_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV, "/etc/cabinetd"))


def default_layers(explicit: Sequence[Path] = ()) -> list[Path]:
    """The files to read after the packaged defaults: the main file(s), then conf.d in name order."""
    main = list(explicit) or [config_dir() / "cabinetd.toml"]
    drop_ins = sorted((config_dir() / "conf.d").glob("*.toml"))
    return [*main, *drop_ins]


@dataclass
class Layered:
    """The merged TOML data and, for every key path, the file that set it."""

    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[KeyPath, str] = field(default_factory=dict)

    def add(self, doc: dict[str, Any], source: str) -> None:
        _merge(self.data, doc, (), source, self.origin)

    def source_of(self, path: KeyPath) -> str:
        for end in range(len(path), -1, -1):
            found = self.origin.get(path[:end])
            if found is not None:
                return found
        return DEFAULTS_NAME


def _merge(into: dict[str, Any], doc: dict[str, Any], prefix: KeyPath, source: str, origin: dict[KeyPath, str]) -> None:
    for key, value in doc.items():
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            origin.setdefault(path, source)
            _merge(into[key], value, path, source, origin)
        else:
            into[key] = value
            _record(value, path, source, origin)


def _record(value: Any, path: KeyPath, source: str, origin: dict[KeyPath, str]) -> None:
    origin[path] = source
    if isinstance(value, dict):
        for key, inner in value.items():
            _record(inner, (*path, key), source, origin)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _record(inner, (*path, index), source, origin)


_TOML_POSITION = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.match(str(exc))
        if found is None:
            raise ConfigError([f"{path}: {exc}"]) from None
        raise ConfigError([f"{path}:{found['line']}: {found['msg']} (column {found['col']})"]) from None


def load_layers(files: Iterable[Path]) -> Layered:
    layered = Layered()
    for path in files:
        layered.add(read_toml(path), str(path))
    return layered


def load(files: Sequence[Path] = ()) -> CabinetConfig:
    """Read, merge and validate; raise ConfigError with every problem found."""
    layered = load_layers(default_layers(files))
    try:
        config = CabinetConfig.model_validate(layered.data)
    except ValidationError as exc:
        raise ConfigError(_lines_from_pydantic(exc, layered)) from None
    problems = cross_checks(config)
    if problems:
        raise ConfigError([f"{layered.source_of(path)}: {path_text(path)}: {msg}" for path, msg in problems])
    return config


def dump(config: CabinetConfig) -> str:
    return tomli_w.dumps(config.model_dump(mode="json", exclude_none=True))


def _lines_from_pydantic(exc: ValidationError, layered: Layered) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        path: KeyPath = tuple(
            part for part in error["loc"] if not (isinstance(part, str) and part in UNION_TAGS)
        )
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = (*path, str(error["ctx"]["discriminator"]).strip("'"))
        lines.append(f"{layered.source_of(path)}: {path_text(path) or '(top level)'}: {_message(error)}")
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _message(error: Any) -> str:
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    got = _shown(error.get("input"))
    match kind:
        case "missing":
            return "required"
        case "extra_forbidden":
            return "unknown key"
        case "int_type" | "int_parsing" | "int_from_float":
            return f"must be a whole number, got {got}"
        case "float_type" | "float_parsing":
            return f"must be a number, got {got}"
        case "bool_type" | "bool_parsing":
            return f"must be true or false, got {got}"
        case "string_type":
            return f"must be a string, got {got}"
        case "dict_type" | "model_type" | "model_attributes_type":
            return f"must be a table, got {got}"
        case "list_type":
            return f"must be an array, got {got}"
        case "literal_error":
            return f"must be {ctx['expected']}, got {got}"
        case "union_tag_invalid":
            *first, last = str(ctx["expected_tags"]).split(", ")
            return f"must be {', '.join(first)} or {last}, got {_shown(ctx.get('tag'))}"
        case "union_tag_not_found":
            return "required"
        case "too_short":
            return f"must have at least {ctx['min_length']} entr{'y' if ctx['min_length'] == 1 else 'ies'}"
        case "string_too_short":
            return "must not be empty"
        case "string_too_long":
            return f"must be at most {ctx['max_length']} characters"
        case "string_pattern_mismatch":
            return f"must match {ctx['pattern']}, got {got}"
        case "url_parsing" | "url_scheme" | "url_type":
            return f"must be an http(s) URL, got {got}"
        case "value_error":
            return str(error["msg"]).removeprefix("Value error, ")
        case _:
            return str(error["msg"])
