"""A simulated device's bulk endpoints: queues between the host's transfers and the device model."""

from __future__ import annotations

import threading
from collections import defaultdict, deque

from cabinetd.sim.usbdescriptors import Gone


class BulkEndpoints:
    """The host's writes land in `take_from_host`; what the model puts with `send_to_host` is what the
    host reads. A power loss empties both ways and wakes a host waiting on a read with `Gone`."""

    def __init__(self) -> None:
        self._power_epoch = 0
        self._wake = threading.Condition()
        self._to_host: defaultdict[int, deque[bytes]] = defaultdict(deque)
        self._from_host: defaultdict[int, deque[bytes]] = defaultdict(deque)

    def endpoints_lost_power(self) -> None:
        with self._wake:
            self._power_epoch += 1
            self._to_host.clear()
            self._from_host.clear()
            self._wake.notify_all()

    def send_to_host(self, endpoint: int, data: bytes) -> None:
        """The model's side: queue a packet for the host to read from IN endpoint `endpoint`."""
        with self._wake:
            self._to_host[endpoint].append(bytes(data))
            self._wake.notify_all()

    def take_from_host(self, endpoint: int) -> bytes | None:
        """The model's side: the next packet the host wrote to OUT endpoint `endpoint`, if any."""
        with self._wake:
            queue = self._from_host[endpoint]
            return queue.popleft() if queue else None

    def bulk_out(self, endpoint: int, data: bytes) -> int:
        """The host wrote `data`; returns how much the device took."""
        with self._wake:
            self._from_host[endpoint].append(bytes(data))
            self._wake.notify_all()
        return len(data)

    def bulk_in(self, endpoint: int, size: int, timeout_s: float | None) -> bytes:
        """The host reads up to `size` bytes; waits for the model. TimeoutError, or Gone on power loss."""
        with self._wake:
            epoch = self._power_epoch
            ready = self._wake.wait_for(lambda: bool(self._to_host[endpoint]) or self._power_epoch != epoch, timeout_s)
            if self._power_epoch != epoch:
                raise Gone
            if not ready:
                raise TimeoutError
            packet = self._to_host[endpoint].popleft()
            if len(packet) > size:  # the rest stays for the next read, as a short host buffer sees it
                self._to_host[endpoint].appendleft(packet[size:])
            return packet[:size]
