"""`diag bundle`: what is in it, what never is, and the progress it shows."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from cabinetd import logbuffer
from cabinetd.api.control import shapes
from cabinetd.api.control.redact import REDACTED, redact
from cabinetd.ctl.client import EXIT_OK
from cabinetd.ctl.diag import Progress
from tests.ctl.conftest import Ctl

TOKEN = "s3cr3t-cabinet-token-do-not-leak"


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        found = {}
        for info in tar.getmembers():
            extracted = tar.extractfile(info)
            assert extracted is not None
            found[info.name.split("/", 1)[1]] = extracted.read()
    return found


async def test_ok__the_bundle_has_what_support_asks_for_and_no_secret(
    ctl: Ctl,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recent_logs: logbuffer.RecentLogs,
) -> None:
    # The token file the config names (relative: from the daemon's working directory) holds a secret.
    monkeypatch.chdir(tmp_path)
    token = tmp_path / ".state" / "sim" / "cloud.token"
    token.parent.mkdir(parents=True)
    token.write_text(TOKEN)
    await ctl("slot", "disable", "2", "--reason", "for the bundle")
    target = tmp_path / "diag.tar.gz"
    said = await ctl("diag", "bundle", str(target))
    assert said.code == EXIT_OK, said.err
    names = [
        "manifest.json", "status.json", "usb.json", "sync.json", "config.toml", "versions.json",
        "ledger-verify.json", "events.jsonl", "logs.jsonl",
    ]
    assert said.out == f"wrote {target} ({target.stat().st_size} bytes): {', '.join(names)}\n"
    assert target.stat().st_mode & 0o777 == 0o600
    members = _members(target)
    assert list(members) == names
    shapes.Status.model_validate_json(members["status.json"])
    shapes.LedgerVerify.model_validate_json(members["ledger-verify.json"])
    events = [shapes.Event.model_validate_json(line) for line in members["events.jsonl"].splitlines()]
    assert [e.seq for e in events] == [e.seq for e in ctl.rig.ledger.tail(10_000)]
    logs = [shapes.LogRecord.model_validate_json(line) for line in members["logs.jsonl"].splitlines()]
    assert any(r.msg == "slot 2: disable by root (uid 0): for the bundle" for r in logs)
    versions = json.loads(members["versions.json"])
    assert (versions["cabinetd"], versions["cabinetctl"]) == ("0.1.0", "0.1.0")
    everything = b"".join(members.values())
    assert TOKEN.encode() not in everything
    assert b"scrypt$" not in everything  # the technician's PIN hash stays in the staff replica
    assert b'token_file = ".state/sim/cloud.token"' in members["config.toml"]


async def test_ok__the_progress_bar_on_a_pipe_is_one_line_a_step(ctl: Ctl, tmp_path: Path) -> None:
    said = await ctl("diag", "bundle", str(tmp_path / "b.tar.gz"), "--json")
    done = shapes.BundleDone.model_validate_json(said.out)
    assert done.members[0] == "manifest.json"
    events = len(ctl.rig.ledger.tail(10_000))
    assert said.err.splitlines() == [
        "[#-----------------------------]   5% status",
        "[##----------------------------]   8% usb",
        "[###---------------------------]  10% sync",
        "[###---------------------------]  13% config",
        "[####--------------------------]  15% versions",
        "[#######-----------------------]  25% ledger verify",
        f"[#########################-----]  85% events {events}",
        f"[############################--]  95% logs {len(logbuffer.recent().records())}",
        "[##############################] 100% written",
    ]


def test_ok__the_progress_bar_on_a_terminal_redraws_in_place() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = Progress(screen)
    progress.finished(40, "status")
    progress.within(60, 0.5, "events 5000")
    progress.finished(60, "written")
    progress.close()
    assert screen.getvalue() == (
        "\r\x1b[K[############------------------]  40% status"
        "\r\x1b[K[#####################---------]  70% events 5000"
        "\r\x1b[K[##############################] 100% written\n"
    )


async def test_fail__a_bundle_that_cannot_be_written_fails_first(ctl: Ctl, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "b.tar.gz"
    said = await ctl("diag", "bundle", str(target))
    assert (said.code, said.out, said.err) == (1, "", f"cabinetctl: cannot write {target}: No such file or directory\n")


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ({"cloud": {"token_file": "/var/lib/c/cloud.token"}}, {"cloud": {"token_file": "/var/lib/c/cloud.token"}}),
        ({"cloud": {"token": "abc"}}, {"cloud": {"token": REDACTED}}),
        ({"cloud": {"token": None}}, {"cloud": {"token": None}}),
        ({"staff": [{"pin_hash": "scrypt$1$2$3$x$y", "name": "T"}]}, {"staff": [{"pin_hash": REDACTED, "name": "T"}]}),
        ({"x": {"api_key": "k", "client_secret": "s"}}, {"x": {"api_key": REDACTED, "client_secret": REDACTED}}),
        ({"x": {"password": "p", "passwd": "q"}}, {"x": {"password": REDACTED, "passwd": REDACTED}}),
        ({"cloud": {"url": "https://cab:pw@cloud.example:8443/v1"}}, {"cloud": {"url": f"https://cab:{REDACTED}@cloud.example:8443/v1"}}),
        ({"lock": {"pin": 5}, "led_pin": 7}, {"lock": {"pin": 5}, "led_pin": 7}),  # GPIO pins are wiring, not PINs
    ],
)
def test_ok__redaction(given: dict[str, object], shown: dict[str, object]) -> None:
    assert redact(given) == shown
