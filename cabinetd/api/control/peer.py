"""Who is on the other end of the control socket, and whether they may in.

The kernel tells us the peer's pid, uid and gid when it connects (SO_PEERCRED); nothing the client
sends can change them. uvicorn's HTTP protocol is subclassed so that every connection carries its
peer into each request's scope, and an ASGI gate in front of the control app answers anyone else
with 403 and one line naming their uid and the group they need.

Membership of the technicians' group is read from the user database (the group's own gid as the
peer's primary group, or the peer user's group list), not from /proc: the service's sandbox
(cabinetd.service) hides other users' processes from the daemon.
"""

from __future__ import annotations

import asyncio
import grp
import json
import logging
import os
import pwd
import socket
import struct
from dataclasses import dataclass
from typing import Any, Final

from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AppScope
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

TECH_GROUP: Final = "cabinet-tech"
PEER_KEY: Final = "cabinetd.peer"  # where a request's scope carries its connection's peer
_UCRED: Final = struct.Struct("3i")


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int

    @property
    def user(self) -> str:
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return f"uid-{self.uid}"


def read_peer(sock: Any) -> Peer | None:
    """The credentials of the process that connected `sock`, or None if the kernel will not say."""
    try:
        pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    except (OSError, AttributeError, struct.error):
        return None
    return Peer(pid, uid, gid)


@dataclass(frozen=True)
class Gate:
    """Root, the daemon's own user, or a member of `group` may use the control socket."""

    own_uid: int
    group: str = TECH_GROUP

    def group_id(self) -> int | None:
        try:
            return grp.getgrnam(self.group).gr_gid
        except KeyError:
            return None

    def admits(self, peer: Peer) -> bool:
        if peer.uid in (0, self.own_uid):
            return True
        gid = self.group_id()
        if gid is None:
            return False
        if peer.gid == gid:
            return True
        try:
            name = pwd.getpwuid(peer.uid).pw_name
        except KeyError:
            return False
        return gid in os.getgrouplist(name, peer.gid)

    def refusal(self, peer: Peer | None) -> str:
        if peer is None:
            return "refused: the kernel did not say who is connecting"
        return f"refused: uid {peer.uid} ({peer.user}) is not root, the daemon's user or in group {self.group}"


class PeerGate:
    """In front of the control app: lets admitted peers through with their credentials in the scope."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: AppScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        peer = scope.get(PEER_KEY)
        if isinstance(peer, Peer) and self.gate.admits(peer):
            await self.app(scope, receive, send)
            return
        message = self.gate.refusal(peer if isinstance(peer, Peer) else None)
        log.warning("control socket: %s (pid %s)", message, peer.pid if isinstance(peer, Peer) else "?")
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _WithPeer:
    """One connection's view of the app: each request's scope gets the connection's peer."""

    def __init__(self, app: ASGI3Application, peer: Peer | None) -> None:
        self.app = app
        self.peer = peer

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await self.app({**scope, PEER_KEY: self.peer}, receive, send)  # type: ignore[arg-type]


class PeerCredentialsProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, reading SO_PEERCRED once per connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _WithPeer(self.app, read_peer(transport.get_extra_info("socket")))
