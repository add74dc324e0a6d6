"""What the screen does by itself, on the cabinet's clock: a notice that goes after a few seconds, and
a finished screen that goes back to idle.

A finished screen (done, refused, returned) is put back to idle after `FINISHED_SCREEN_S`, unless
something else was shown meanwhile: long enough to read two lines, and short enough that the next
person, or a kiosk reloaded after its browser restarted, never meets the previous person's outcome.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from cabinetd.flows.core import Core

NOTICE_S: Final = 5.0  # how long "please wait, someone is using the cabinet" stays over the screen
FINISHED_SCREEN_S: Final = 10.0
FINISHED_VIEWS: Final = frozenset({"done", "refused", "returned"})


def keep_screen_fresh(core: Core) -> None:
    """Put every finished screen the flows show back to idle after a while."""

    def shown(state: dict[str, Any]) -> None:
        if state["view"] in FINISHED_VIEWS:
            core.spawn(_back_to_idle(core, state), "finished screen back to idle")

    core.screen.on_shown = shown


def notify_busy(core: Core, name: str) -> None:
    """A second person's badge: a notice over the screen for NOTICE_S, the first person's screen kept."""
    until = (core.clock.now() + timedelta(seconds=NOTICE_S)).isoformat(timespec="seconds")
    notice = core.screen.notify("busy", name=name, until=until)
    core.spawn(_take_down(core, notice), "busy notice")


async def _back_to_idle(core: Core, state: dict[str, Any]) -> None:
    await core.clock.sleep(FINISHED_SCREEN_S)
    if core.screen.state is state:  # nothing has been shown since
        core.screen.show("idle")


async def _take_down(core: Core, notice: dict[str, Any]) -> None:
    await core.clock.sleep(NOTICE_S)
    core.screen.clear_notice(notice)
