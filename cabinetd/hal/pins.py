"""The GPIO pin library: gpiozero's pin factory, found once for every GPIO driver of the cabinet.

Every gpiozero device is built with the factory from here, never gpiozero's global one. On a real board
the factory is the first pin library that works; the simulator and the tests hand their
`MockFactory` to `PinSource` instead. The search happens in the first `prepare()` that needs a pin,
so a cabinet without GPIO never looks, and one where no library works stops with one line naming the
config key that asked for a pin (`DriverError`), not a traceback out of a constructor.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

from cabinetd.hal.errors import DriverError, HardwareError

PinFactory = Any  # gpiozero.Factory; gpiozero ships no type information

# The pin libraries gpiozero can use on a real board, best first.
PIN_LIBRARIES: Final = (
    ("gpiozero.pins.lgpio", "LGPIOFactory"),
    ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
    ("gpiozero.pins.native", "NativeFactory"),
)


def default_pin_factory() -> PinFactory:
    """The first pin library that works here; our own instance, never gpiozero's global factory."""
    problems: list[str] = []
    for module_name, class_name in PIN_LIBRARIES:
        try:
            return getattr(importlib.import_module(module_name), class_name)()
        except Exception as error:  # each library fails in its own way off a real board
            problems.append(f"{class_name}: {error}")
    raise HardwareError("no GPIO pin library works on this computer (" + "; ".join(problems) + ")")


class PinSource:
    """The one pin factory of a cabinet: the one given, or the first library that works, found on first use."""

    def __init__(self, factory: PinFactory | None = None) -> None:
        self._factory = factory

    def factory(self, where: str) -> PinFactory:
        """The factory; DriverError naming `where` (the config key that wants a pin) if there is none."""
        if self._factory is None:
            try:
                self._factory = default_pin_factory()
            except HardwareError as error:
                raise DriverError(where, "gpio", str(error)) from None
        return self._factory
