"""Where the cloud may send: a check against server-side request forgery.

An operator types the URL of an endpoint; without a check, a URL naming the cloud's own host, its
database or the cloud provider's metadata service would make the cloud a way into its own network.
So every address the host resolves to must be a public one: loopback, link-local, private (RFC 1918,
unique local), shared (100.64/10), multicast, reserved and unspecified addresses are refused unless
the operator allowed private addresses for that one endpoint (a repair service on the store's LAN,
a mail relay on the same host). The check runs when the connection is made, on the address the socket
connects to, so a name that resolves to a public address when the URL is saved and to a private one
at send time is still refused. Redirects are never followed (the sender sets that).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx


class UnsafeAddress(Exception):
    """The endpoint's host is, or resolves to, an address the cloud does not send to."""


def unsafe_reason(address: str) -> str | None:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, what in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_reserved, "reserved"),
        (ip in ipaddress.ip_network("100.64.0.0/10"), "shared (carrier-grade NAT)"),
        (ip.is_private, "private"),
    ):
        if test:
            return what
    return None


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeAddress(f"host {host!r} does not resolve: {exc.strerror}") from None
    return sorted({str(info[4][0]) for info in infos})


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    for address in addresses:
        reason = unsafe_reason(address)
        if reason:
            raise UnsafeAddress(
                f"host {host!r} is {address}, a {reason} address: refused unless the endpoint allows private addresses"
            )


def check_url(url: str, *, allow_private: bool, schemes: tuple[str, ...] = ("https", "http")) -> None:
    """Refuse a URL the cloud must not send to; resolves the host now (the sender checks again at connect)."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise UnsafeAddress(f"URL scheme {parts.scheme!r} is not one of {', '.join(schemes)}")
    if not parts.hostname:
        raise UnsafeAddress(f"URL {url!r} names no host")
    if parts.username or parts.password:
        raise UnsafeAddress("a webhook URL may not carry a user name or password")
    if not allow_private:
        check_addresses(parts.hostname, resolve(parts.hostname, parts.port or 443))


class _CheckingBackend(httpcore.NetworkBackend):
    """Connects only to public addresses: resolves the host itself and checks what it connects to."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        try:
            check_addresses(host, addresses)
        except UnsafeAddress as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        # The checked address is the one connected to; TLS still verifies the certificate of `host`.
        return self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("the cloud does not send to unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


_clients: dict[tuple[bool, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def client(*, allow_private: bool, timeout_s: float) -> httpx.Client:
    """The HTTP client for endpoints of one kind: no redirects followed, no proxy from the environment, and
    (unless the endpoint allows private addresses) connections only to public addresses. One client per
    kind is shared by the sending threads, so that connections and the TLS setup are reused."""
    key = (allow_private, timeout_s)
    with _clients_lock:
        made = _clients.get(key)
        if made is None:
            made = _clients[key] = _new_client(allow_private=allow_private, timeout_s=timeout_s)
        return made


def _new_client(*, allow_private: bool, timeout_s: float) -> httpx.Client:
    transport = httpx.HTTPTransport(retries=0)
    if not allow_private:
        # httpx has no public hook for the network backend; its transport's pool is replaced with one
        # built the same way over the checking backend.
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_CheckingBackend(), retries=0
        )
    return httpx.Client(transport=transport, follow_redirects=False, trust_env=False, timeout=timeout_s)
