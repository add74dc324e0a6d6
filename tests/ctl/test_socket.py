"""The control socket: its file, stale files, and the peer-credential check on every connection.

The clients in the peer tests are forked children that drop to another uid and gid before they
connect, so the kernel reports them as that user (SO_PEERCRED is taken at connect time).
"""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import pwd
import re
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cabinetd.api.control import shapes
from cabinetd.api.control.server import ControlServer
from cabinetd.ctl import main
from cabinetd.ctl.client import EXIT_FAILED, EXIT_OK
from tests.flows.rig import Rig

NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = grp.getgrnam("nogroup").gr_gid

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="the peer tests switch to another user: run as root")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory other users may pass through (pytest's own tmp_path is private to root)."""
    found = Path(tempfile.mkdtemp(prefix="ctl-", dir="/tmp"))
    found.chmod(0o711)
    yield found
    shutil.rmtree(found, ignore_errors=True)


async def _serve(rig: Rig, path: Path, group: str) -> AsyncIterator[ControlServer]:
    server = ControlServer(rig.cabinet.desk, rig.cabinet.badges, path=path, group=group)
    await server.prepare()
    task = asyncio.create_task(server.run())
    yield server
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await server.cleanup()


def _as_user(uid: int, gid: int, argv: list[str]) -> tuple[int, str, str]:
    """Fork; the child becomes uid:gid with no other groups and runs `cabinetctl argv`."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest, no event loop from here on
        code = 99
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            sys.stdout = open(out_w, "w")  # noqa: SIM115 - flushed below, the process ends
            sys.stderr = open(err_w, "w")  # noqa: SIM115
            code = main(argv)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    _, status = os.waitpid(pid, 0)
    with open(out_r) as out, open(err_r) as err:
        return os.waitstatus_to_exitcode(status), out.read(), err.read()


async def test_fail__a_user_outside_the_group_is_refused_with_a_clear_line(rig: Rig, open_dir: Path) -> None:
    path = open_dir / "control.sock"
    async for _ in _serve(rig, path, "cabinet-tech"):
        path.chmod(0o666)  # even a socket file anyone may open does not let them in
        code, out, err = await asyncio.to_thread(_as_user, NOBODY, NOGROUP, ["--socket", str(path), "status"])
    assert (code, out) == (EXIT_FAILED, "")
    assert err == "cabinetctl: refused: uid 65534 (nobody) is not root, the daemon's user or in group cabinet-tech\n"


async def test_ok__a_member_of_the_group_gets_in(rig: Rig, open_dir: Path) -> None:
    # The machine has no cabinet-tech group: "nogroup" stands in for it, and nobody is in it.
    path = open_dir / "control.sock"
    async for _ in _serve(rig, path, "nogroup"):
        found = path.stat()
        assert (stat.S_IMODE(found.st_mode), found.st_gid) == (0o660, NOGROUP)
        argv = ["--socket", str(path), "--json", "status"]
        code, out, err = await asyncio.to_thread(_as_user, NOBODY, NOGROUP, argv)
    assert (code, err) == (EXIT_OK, "")
    assert shapes.Status.model_validate_json(out).cabinet_id == "sim-1"


async def test_ok__an_action_by_a_member_is_recorded_under_their_name(rig: Rig, open_dir: Path) -> None:
    path = open_dir / "control.sock"
    async for _ in _serve(rig, path, "nogroup"):
        argv = ["--socket", str(path), "slot", "disable", "4", "--reason", "door hinge"]
        code, out, _ = await asyncio.to_thread(_as_user, NOBODY, NOGROUP, argv)
    assert (code, out) == (EXIT_OK, "slot 4: disabled by nobody; now disabled\n")
    last = [e for e in rig.ledger.tail(50) if e.type == "technician_action"][-1]
    assert last.payload == {
        "action": "disable", "args": {"reason": "door hinge", "uid": NOBODY}, "technician": "nobody"
    }


async def test_fail__without_permission_on_the_file_it_says_which_group_is_needed(rig: Rig, open_dir: Path) -> None:
    path = open_dir / "control.sock"
    async for _ in _serve(rig, path, "cabinet-tech"):
        code, out, err = await asyncio.to_thread(_as_user, NOBODY, NOGROUP, ["--socket", str(path), "status"])
    assert (code, out) == (EXIT_FAILED, "")
    assert err == f"cabinetctl: refused: no permission to use {path} (needs root or group cabinet-tech)\n"


async def test_ok__without_the_group_the_socket_keeps_0660_and_the_owners_group(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    path = rig.cabinet.control.path  # the rig's own, on a machine without cabinet-tech
    found = path.stat()
    assert (stat.S_ISSOCK(found.st_mode), stat.S_IMODE(found.st_mode), found.st_gid) == (True, 0o660, os.getgid())
    await rig.cabinet.control.cleanup()
    with caplog.at_level(logging.WARNING, logger="cabinetd.api.control.server"):
        await rig.cabinet.control.prepare()
    owner = grp.getgrgid(os.getgid()).gr_name
    assert caplog.messages == [
        f"control socket {path}: group cabinet-tech does not exist; the socket keeps group {owner} (mode 0660), "
        "so only root and the daemon's own user may use it"
    ]


async def test_ok__a_stale_socket_file_is_replaced(rig: Rig, tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(path))  # bound and closed: what a killed daemon leaves behind
    left.close()
    async for server in _serve(rig, path, "cabinet-tech"):
        code = await asyncio.to_thread(main, ["--socket", str(path), "--json", "slots"])
        assert code == EXIT_OK
        assert server.path.exists()
    assert not path.exists()  # and removed at cleanup


async def test_fail__a_socket_another_process_answers_on_is_not_taken(rig: Rig, tmp_path: Path) -> None:
    path = tmp_path / "busy.sock"
    other = socket.socket(socket.AF_UNIX)
    other.bind(str(path))
    other.listen(1)
    server = ControlServer(rig.cabinet.desk, rig.cabinet.badges, path=path)
    message = f"control socket {path}: another process answers on it (is cabinetd already running?)"
    with pytest.raises(OSError, match=f"^{re.escape(message)}$"):
        await server.prepare()
    other.close()


async def test_fail__a_file_in_the_way_is_not_removed(rig: Rig, tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("notes")
    message = f"control socket {path}: something that is not a socket is in the way; not removing it"
    with pytest.raises(OSError, match=f"^{re.escape(message)}$"):
        await ControlServer(rig.cabinet.desk, rig.cabinet.badges, path=path).prepare()
    assert path.read_text() == "notes"


async def test_fail__a_path_too_long_for_a_unix_socket(rig: Rig, tmp_path: Path) -> None:
    path = tmp_path / ("x" * 120)
    message = f"control socket {path}: path too long for a Unix socket ({len(os.fsencode(path))} bytes, at most 107)"
    with pytest.raises(OSError, match=f"^{re.escape(message)}$"):
        await ControlServer(rig.cabinet.desk, rig.cabinet.badges, path=path).prepare()
