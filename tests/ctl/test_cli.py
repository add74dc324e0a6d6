"""The command line without a daemon: usage errors, help, finding the socket, a daemon that is down."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cabinetd.ctl import main
from cabinetd.ctl.client import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, socket_path
from tests.flows.rig import ROOT


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    got = capsys.readouterr()
    return code, got.out, got.err


def test_fail__no_socket_means_exit_3_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "control.sock"
    code, out, err = _run(capsys, "--socket", str(path), "status")
    assert (code, out) == (EXIT_UNREACHABLE, "")
    assert err == f"cabinetctl: cannot reach cabinetd: no socket at {path} (is the daemon running?)\n"


def test_fail__a_socket_nobody_listens_on_means_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "control.sock"
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(path))
    left.close()
    code, out, err = _run(capsys, "--socket", str(path), "--json", "slots")
    assert (code, out) == (EXIT_UNREACHABLE, "")
    assert err == f"cabinetctl: cannot reach cabinetd: nothing listens on {path} (is the daemon running?)\n"


def test_fail__a_daemon_that_does_not_answer_means_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "control.sock"
    mute = socket.socket(socket.AF_UNIX)
    mute.bind(str(path))
    mute.listen(1)  # accepted by the kernel, never answered
    try:
        code, out, err = _run(capsys, "--socket", str(path), "--timeout", "0.2", "status")
    finally:
        mute.close()
    assert (code, out, err) == (EXIT_UNREACHABLE, "", f"cabinetctl: cabinetd did not answer on {path} within 0.2 s\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["slot"], "the following arguments are required: N | open | disable | enable"),
        (["lock", "test", "0"], "argument N: slot numbers start at 1, got 0"),
        (["usb", "power", "1", "sideways"], "argument power: invalid choice: 'sideways'"),
        (["ledger", "export", "out.jsonl"], "the following arguments are required: --since"),
        (["badge", "watch", "--for", "-1"], "argument --for: must be between 0 and 86400 seconds, got -1"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)
def test_fail__usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert message in err.splitlines()[-1]


def test_ok__help_reads_like_a_manual(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == EXIT_OK
    assert "  slot open N --reason TEXT     unlock the slot's door\n" in out
    assert "exit status:\n  0  done\n  1  refused or failed" in out
    code, out, _ = _run(capsys, "slot", "--help")
    assert code == EXIT_OK
    assert "  cabinetctl slot disable N --reason TEXT\n      take slot N out of service" in out


def test_ok__the_socket_comes_from_the_daemons_config(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[api]\ncontrol_socket = "/run/elsewhere/control.sock"\n')
    assert socket_path(None, [ROOT / "config" / "sim.toml", site]) == Path("/run/elsewhere/control.sock")
    assert socket_path(tmp_path / "given.sock", [site]) == tmp_path / "given.sock"


def test_ok__without_config_files_the_default_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CABINETD_CONFIG_DIR", str(tmp_path / "nothing-here"))
    assert socket_path(None, []) == Path("/run/cabinetd/control.sock")


def test_fail__a_broken_config_gives_its_lines_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[api]\nport = 0\n")
    code, out, err = _run(capsys, "--config", str(ROOT / "config" / "sim.toml"), "--config", str(site), "status")
    assert (code, out) == (EXIT_USAGE, "")
    assert err == f"cabinetctl: {site}: api.port: must be between 1 and 65535, got 0\n"
