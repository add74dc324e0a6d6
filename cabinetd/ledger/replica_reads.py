"""Staff and work types as last read, kept in memory until the next replica write: a badge at the
reader is answered from memory, not from the file.

The replicas are written only through the ledger, which forgets this memory on every write, so it
cannot go stale; it is bounded so that a stream of unknown badges cannot grow it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Final

from cabinetd.ledger.store import Store

REPLICA_READS_KEPT: Final = 4096  # staff, badges and work types a cabinet asks for between roster changes

_NOT_READ: Final = object()


class ReplicaReads:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._found: dict[tuple[str, Hashable], Any] = {}

    def __len__(self) -> int:
        return len(self._found)

    def forget(self) -> None:
        """The replicas changed: read every key from the file again."""
        self._found.clear()

    def read(self, kind: str, key: Hashable, read: Callable[[Store, Any], Any]) -> Any:
        """The `kind` row for `key` (None when there is none), from memory when this key was read
        since the last replica write."""
        found = self._found.get((kind, key), _NOT_READ)
        if found is _NOT_READ:
            found = read(self._store, key)
            if len(self._found) >= REPLICA_READS_KEPT:
                self._found.clear()
            self._found[kind, key] = found
        return found
