"""The control socket as a subsystem: a Unix socket for `cabinetctl`, served by uvicorn in our loop.

The socket file is made mode 0660 with group `cabinet-tech` (DESIGN.md §9). Where that group does not
exist (a developer's machine) or the daemon may not give it away, the file keeps 0660 and the
daemon's own group, and a warning says so: then only root and the daemon's own user get in, since
the peer check (peer.py) still asks for the technicians' group. A socket file left by a daemon that
died is removed at start; one that still answers means another daemon runs, and start-up fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Final

import uvicorn

from cabinetd.api.control.answers import Desk
from cabinetd.api.control.app import build_control_app
from cabinetd.api.control.badges import BadgeWatch
from cabinetd.api.control.peer import TECH_GROUP, Gate, PeerCredentialsProtocol, PeerGate
from cabinetd.api.server import EmbeddedServer
from cabinetd.ledger import LedgerError
from cabinetd.lifecycle import Subsystem

log = logging.getLogger(__name__)

SOCKET_MODE: Final = 0o660
MAX_PATH_BYTES: Final = 107  # sun_path holds 108 bytes with the terminating NUL


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


class ControlServer(Subsystem):
    name = "control"

    def __init__(self, desk: Desk, badges: BadgeWatch, *, path: Path | None = None, group: str = TECH_GROUP) -> None:
        super().__init__()
        self.path = Path(path or desk.config.api.control_socket)
        self.gate = Gate(os.getuid(), group)
        self.desk = desk
        self.badges = badges

        def on_roster(badge: str) -> tuple[str, str, str] | None:
            try:
                staff = desk.ledger().staff_by_badge(badge, desk.config.badge_reader.id_form)
            except LedgerError:
                return None
            return None if staff is None else (staff.staff_id, staff.name, staff.role)

        badges.roster = on_roster
        self.app = PeerGate(build_control_app(self.desk, badges), self.gate)
        self._socket: socket.socket | None = None
        self._inode: int | None = None
        self._server: EmbeddedServer | None = None

    async def prepare(self) -> None:
        path = self.path
        if len(os.fsencode(path)) > MAX_PATH_BYTES:
            raise OSError(
                f"control socket {path}: path too long for a Unix socket "
                f"({len(os.fsencode(path))} bytes, at most {MAX_PATH_BYTES})"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            os.chmod(path, SOCKET_MODE)
            self._give_group(path)
            sock.listen(16)
        except OSError as exc:
            sock.close()
            raise OSError(f"control socket {path}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        self._socket = sock
        self._inode = path.stat().st_ino
        config = uvicorn.Config(
            self.app,
            http=PeerCredentialsProtocol,
            ws="none",  # plain requests only: nothing on this socket upgrades past the peer gate
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=1,
        )
        self._server = EmbeddedServer(config)
        log.info("control API listening on %s", path)

    def _remove_stale(self, path: Path) -> None:
        try:
            found = path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(found.st_mode):
            raise OSError(f"control socket {path}: something that is not a socket is in the way; not removing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            log.info("control socket %s: removing the one a previous daemon left", path)
            path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise OSError(f"control socket {path}: another process answers on it (is cabinetd already running?)")

    def _give_group(self, path: Path) -> None:
        group = self.gate.group
        gid = self.gate.group_id()
        kept = _group_name(path.stat().st_gid)
        if gid is None:
            log.warning(
                "control socket %s: group %s does not exist; the socket keeps group %s (mode 0660), "
                "so only root and the daemon's own user may use it",
                path, group, kept,
            )
            return
        try:
            os.chown(path, -1, gid)
        except PermissionError:
            log.warning(
                "control socket %s: the daemon may not give it group %s (not a member); it keeps group %s "
                "(mode 0660), so only root and the daemon's own user may use it",
                path, group, kept,
            )

    async def run(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        await self._server.serve(sockets=[self._socket])

    async def cleanup(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.should_exit = True
            for listener in getattr(server, "servers", []):  # there are none until serve() started
                listener.close()
            for task in list(server.server_state.tasks):
                task.cancel()  # a long poll (badge watch) must not hold up the shutdown
            await asyncio.sleep(0)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        with contextlib.suppress(OSError):
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()
        self._inode = None
