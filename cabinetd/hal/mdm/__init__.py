"""The fleet's MDM, for device models whose link is `mdm:<adapter>+<local link>` (cabinetproto.links):
the adapter moves a handheld into the MDM configuration mapped from the work type, and the local link
then checks (and, from the cabinet's package cache, completes) what the device holds before the unlock.
docs/device-mdm.md says what each adapter speaks and what happens when the MDM is not there.
"""

from __future__ import annotations

import abc
import enum


class MdmTrouble(enum.Enum):
    UNREACHABLE = "unreachable"  # no answer, a timeout, or a 5xx: the MDM is not there now
    REFUSED = "refused"  # it answered no: wrong credentials, no permission
    UNKNOWN_DEVICE = "unknown device"  # the MDM has no device with this serial
    NO_CONFIGURATION = "no configuration"  # the work type maps to no configuration the MDM has


class MdmError(Exception):
    def __init__(self, adapter: str, trouble: MdmTrouble, detail: str) -> None:
        super().__init__(f"{adapter}: {trouble.value}: {detail}")
        self.adapter = adapter
        self.trouble = trouble


class MdmAdapter(abc.ABC):
    """One MDM server."""

    name: str
    # What the cabinet does when the MDM cannot move the device: "fallback" (provision from the
    # cabinet's own cache over the local link) or "refuse" (hand it out to no one).
    policy: str

    @abc.abstractmethod
    async def assign(self, serial: str, work_type: str) -> str:
        """Move the device into the configuration of this work type; its name. MdmError otherwise."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Let go of connections."""
