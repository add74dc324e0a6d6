"""Config: layering, validation, and the exact one-line error for each kind of mistake."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from cabinetd import configfile
from cabinetd.__main__ import main
from cabinetd.config import CabinetConfig
from cabinetd.configfile import ConfigError

ROOT = Path(__file__).resolve().parent.parent

GOOD: dict[str, Any] = {
    "cabinet": {"id": "s1-c1", "store": "0001", "state_dir": "/tmp/cab"},
    "buses": {"lockbus": {"port": "/dev/ttyUSB0"}},
    "modules": [
        {
            "name": "A",
            "slot_type": "pda",
            "lock": {"driver": "gpio"},
            "slots": [
                {"number": 1, "lock": {"pin": 5}, "door": {"pin": 6}, "usb_port": "1-1.1"},
                {"number": 2, "lock": {"pin": 16}, "door": {"pin": 19}, "usb_port": "1-1.2"},
            ],
        },
        {
            "name": "B",
            "slot_type": "pda",
            "lock": {"driver": "kerong", "bus": "lockbus", "board": 0},
            "slots": [
                {"number": 3, "lock": {"channel": 1}, "door": {"board_feedback": True}, "usb_port": "1-2.1"},
                {"number": 4, "lock": {"channel": 2}, "door": {"board_feedback": True}, "usb_port": "1-2.2"},
            ],
        },
    ],
}


@pytest.fixture(autouse=True)
def no_etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the machine's /etc/cabinetd out of the tests."""
    etc = tmp_path / "etc"
    etc.mkdir()
    monkeypatch.setenv(configfile.CONFIG_DIR_ENV, str(etc))
    return etc


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(doc))
    return path


def errors_for(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> list[str]:
    doc = copy.deepcopy(GOOD)
    change(doc)
    path = write(tmp_path / "cab.toml", doc)
    with pytest.raises(ConfigError) as caught:
        configfile.load([path])
    return [line.replace(str(tmp_path), "T") for line in caught.value.lines]


def test_ok__shipped_examples_validate() -> None:
    real = configfile.load([ROOT / "config" / "cabinetd.toml"])
    sim = configfile.load([ROOT / "config" / "sim.toml"])
    assert [m.lock.driver for m in real.modules] == ["gpio", "kerong"]
    assert sim.hal.type == "sim"
    assert [slot.number for _, slot in sim.slots()] == list(range(1, 9))


def test_ok__defaults_fill_what_a_file_leaves_out(tmp_path: Path) -> None:
    config = configfile.load([write(tmp_path / "c.toml", GOOD)])
    assert config.api.host == "127.0.0.1"
    assert config.api.port == 8080
    assert config.timeouts.door_open_s == 20.0
    assert config.timeouts.board_reply_ms == 25.0
    assert config.log.level == "info"
    assert config.slot_type(3) == "pda"


def test_ok__later_files_override_key_by_key(tmp_path: Path, no_etc: Path) -> None:
    base = write(tmp_path / "base.toml", GOOD)
    site = write(tmp_path / "site.toml", {"api": {"port": 9090}, "log": {"level": "debug"}})
    (no_etc / "conf.d").mkdir()
    write(no_etc / "conf.d" / "20-late.toml", {"log": {"level": "warning"}})
    write(no_etc / "conf.d" / "10-early.toml", {"log": {"format": "json"}, "timeouts": {"door_open_s": 9}})
    config = configfile.load([base, site])
    assert config.api.port == 9090
    assert config.api.host == "127.0.0.1"  # untouched keys of an overridden table survive
    assert config.log.level == "warning"  # conf.d comes after --config, in name order
    assert config.log.format == "json"
    assert config.timeouts.door_open_s == 9
    assert config.cabinet.id == "s1-c1"


def test_ok__an_array_of_modules_is_replaced_whole(tmp_path: Path) -> None:
    base = write(tmp_path / "base.toml", GOOD)
    only_b = write(tmp_path / "b.toml", {"modules": [GOOD["modules"][1]]})
    config = configfile.load([base, only_b])
    assert [m.name for m in config.modules] == ["B"]


def test_ok__default_file_is_read_from_the_config_dir(no_etc: Path) -> None:
    write(no_etc / "cabinetd.toml", GOOD)
    assert configfile.load().cabinet.store == "0001"


def test_ok__dump_round_trips(tmp_path: Path) -> None:
    config = configfile.load([write(tmp_path / "c.toml", GOOD)])
    dumped = tmp_path / "dumped.toml"
    dumped.write_text(configfile.dump(config))
    assert configfile.load([dumped]) == config


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return change


BAD: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "channel_past_board",
        _set("modules/1/slots/1/lock/channel", 17),
        "T/cab.toml: modules[1].slots[1].lock.channel: must be between 1 and 16, got 17",
    ),
    ("unknown_top_key", _set("cabinett", {"id": "x"}), "T/cab.toml: cabinett: unknown key"),
    ("unknown_nested_key", _set("api/prot", 1), "T/cab.toml: api.prot: unknown key"),
    ("missing_cabinet_id", _delete("cabinet/id"), "T/cab.toml: cabinet.id: required"),
    ("port_not_a_number", _set("api/port", "80a"), "T/cab.toml: api.port: must be a whole number, got '80a'"),
    ("port_out_of_range", _set("api/port", 70000), "T/cab.toml: api.port: must be between 1 and 65535, got 70000"),
    (
        "api_not_loopback",
        _set("api/host", "0.0.0.0"),
        "T/cab.toml: api.host: must be a loopback address (127.0.0.1, ::1 or localhost), got '0.0.0.0'",
    ),
    (
        "unknown_lock_driver",
        _set("modules/1/lock/driver", "kerrong"),
        "T/cab.toml: modules[1].lock.driver: must be 'gpio', 'kerong' or 'board8a', got 'kerrong'",
    ),
    (
        "duplicate_slot_number",
        _set("modules/1/slots/0/number", 2),
        "T/cab.toml: modules[1].slots[0].number: slot 2 is already defined at modules[0].slots[1]",
    ),
    (
        "gpio_pin_used_twice",
        _set("modules/0/slots/1/door/pin", 5),
        "T/cab.toml: modules[0].slots[1].door.pin: GPIO 5 is already used by modules[0].slots[0].lock.pin",
    ),
    (
        "slot_without_door",
        _delete("modules/0/slots/0/door"),
        "T/cab.toml: modules[0].slots[0].door: required",
    ),
    (
        "gpio_lock_without_pin",
        _set("modules/0/slots/0/lock", {}),
        "T/cab.toml: modules[0].slots[0].lock.pin: required for a gpio lock",
    ),
    (
        "bus_not_defined",
        _set("modules/1/lock/bus", "rs485"),
        "T/cab.toml: modules[1].lock.bus: no bus named 'rs485' (defined: lockbus)",
    ),
    (
        "cloud_plain_http",
        _set("cloud/url", "http://fleet.example.net"),
        "T/cab.toml: cloud.url: must use https (plain http only to a loopback host), got 'http://fleet.example.net/'",
    ),
    (
        "bad_usb_path",
        _set("modules/0/slots/0/usb_port", "usb1"),
        "T/cab.toml: modules[0].slots[0].usb_port: must be a USB port path like '1-1.4' (bus-port[.port...]), "
        "got 'usb1'",
    ),
    (
        "usb_port_used_twice",
        _set("modules/1/slots/0/usb_port", "1-1.1"),
        "T/cab.toml: modules[1].slots[0].usb_port: USB port 1-1.1 is already used by modules[0].slots[0]",
    ),
    (
        "bad_log_level",
        _set("log/level", "verbose"),
        "T/cab.toml: log.level: must be 'debug', 'info', 'warning' or 'error', got 'verbose'",
    ),
    (
        "negative_timeout",
        _set("timeouts/door_open_s", -1),
        "T/cab.toml: timeouts.door_open_s: must be between 0.001 and 3600, got -1.0",
    ),
    (
        "feedback_door_on_gpio",
        _set("modules/0/slots/0/door", {"board_feedback": True}),
        "T/cab.toml: modules[0].slots[0].door.board_feedback: a gpio lock has no board to read back",
    ),
    ("gpio_pin_off_header", _set("modules/0/slots/0/lock/pin", 40), "T/cab.toml: modules[0].slots[0].lock.pin: "
     "must be between 0 and 27, got 40"),
    ("no_modules", _set("modules", []), "T/cab.toml: modules: must have at least 1 entry"),
    ("bool_as_string", _set("modules/1/slots/0/door/board_feedback", "yes"),
     "T/cab.toml: modules[1].slots[0].door.board_feedback: must be true or false, got 'yes'"),
    ("section_as_value", _set("api", 8080), "T/cab.toml: api: must be a table, got 8080"),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in BAD], ids=[n for n, _, _ in BAD])
def test_fail__bad_config_names_file_key_and_problem(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    assert errors_for(tmp_path, change) == [expected]


def test_fail__board_address_used_twice_on_one_bus(tmp_path: Path) -> None:
    def add_second_board(doc: dict[str, Any]) -> None:
        second = copy.deepcopy(doc["modules"][1])
        second["name"] = "C"
        for slot, number in zip(second["slots"], (5, 6), strict=True):
            slot["number"] = number
            slot["usb_port"] = f"1-3.{number}"
        doc["modules"].append(second)

    assert errors_for(tmp_path, add_second_board) == [
        "T/cab.toml: modules[2].lock.board: board 0 on bus 'lockbus' is already used by modules[1]"
    ]


def test_fail__error_names_the_file_that_set_the_value(tmp_path: Path) -> None:
    base = write(tmp_path / "base.toml", GOOD)
    site = write(tmp_path / "site.toml", {"api": {"port": 0}})
    with pytest.raises(ConfigError) as caught:
        configfile.load([base, site])
    assert caught.value.lines == [f"{site}: api.port: must be between 1 and 65535, got 0"]


def test_fail__every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def two_mistakes(doc: dict[str, Any]) -> None:
        doc["api"] = {"port": 0, "hots": "x"}

    assert errors_for(tmp_path, two_mistakes) == [
        "T/cab.toml: api.port: must be between 1 and 65535, got 0",
        "T/cab.toml: api.hots: unknown key",
    ]


def test_fail__toml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[cabinet]\nid = "x"\nstore = \n')
    with pytest.raises(ConfigError) as caught:
        configfile.load([path])
    assert caught.value.lines == [f"{path}:3: Invalid value (column 9)"]


def test_fail__missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        configfile.load([tmp_path / "nope.toml"])
    assert caught.value.lines == [f"{tmp_path / 'nope.toml'}: file not found"]


def test_fail__missing_default_file_names_it(no_etc: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        configfile.load()
    assert caught.value.lines == [f"{no_etc / 'cabinetd.toml'}: file not found"]


def test_ok__config_check_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "c.toml", GOOD)
    assert main(["config", "check", "--config", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_fail__config_check_exits_2_with_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(GOOD)
    doc["api"] = {"port": 0}
    path = write(tmp_path / "c.toml", doc)
    assert main(["config", "check", "--config", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: api.port: must be between 1 and 65535, got 0\n"


def test_ok__config_dump_prints_merged_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(tmp_path / "base.toml", GOOD)
    site = write(tmp_path / "site.toml", {"api": {"port": 9090}})
    assert main(["config", "dump", "--config", str(base), "--config", str(site)]) == 0
    out = capsys.readouterr().out
    assert "[api]\n" in out
    assert "port = 9090\n" in out
    dumped = tmp_path / "dumped.toml"
    dumped.write_text(out)
    assert isinstance(configfile.load([dumped]), CabinetConfig)
