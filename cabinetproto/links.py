"""How the cabinet talks to a device model's handhelds: the `link` of a device model in the fleet data.

    aoa-agent            the cabinet's own agent app over Android Open Accessory (docs/device-protocol.md)
    adb                  stock Android with USB debugging authorised at staging (docs/device-adb.md)
    mdm:<adapter>+adb    the fleet's MDM moves the device into its configuration; the local link
    mdm:<adapter>+aoa-agent  (after the `+`) verifies and reads what the MDM cannot

A device model written before the field existed uses `aoa-agent`, the only link there was then.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import Field

DEFAULT_LINK: Final = "aoa-agent"
LOCAL_LINKS: Final = ("aoa-agent", "adb")
LINK_PATTERN: Final = r"^(mdm:[a-z][a-z0-9-]{0,31}\+)?(aoa-agent|adb)$"

Link = Annotated[str, Field(pattern=LINK_PATTERN, max_length=64)]


def local_link(link: str) -> str:
    """The link the cabinet itself speaks for this device model: `adb` for `mdm:headwind+adb`."""
    found = re.match(LINK_PATTERN, link)
    if found is None:
        raise ValueError(f"device link {link!r} is not one of {', '.join(LOCAL_LINKS)} or mdm:<adapter>+<one of them>")
    return found.group(2)


def mdm_adapter(link: str) -> str | None:
    """The MDM adapter a link names, `headwind` for `mdm:headwind+adb`; None for a local link."""
    local_link(link)  # the same check, the same message
    return link[4 : link.index("+")] if link.startswith("mdm:") else None
