"""The names both sides of the wire use for a slot's state, its alarms and a device's health.

Their values are written into events, so a value never changes once a cabinet has recorded it.
"""

from __future__ import annotations

import enum


class SlotState(enum.StrEnum):
    EMPTY = "empty"  # no device, door closed and locked: can take a return
    CHARGING = "charging"  # device present and healthy, below its battery threshold
    READY = "ready"  # device present, healthy, charged: can be rented
    DISPENSING = "dispensing"  # unlocked for a rental
    RECEIVING = "receiving"  # unlocked for a return
    INSPECTING = "inspecting"  # device inserted: self-test and usage read-back running
    FAULTY = "faulty"  # failed self-test or unresponsive: quarantined, repair ticket open
    DISABLED = "disabled"  # out of service


class Alarm(enum.StrEnum):
    DOOR_FORCED = "door_forced"  # opened without an unlock
    DOOR_LEFT_OPEN = "door_left_open"
    UNEXPECTED_DEVICE = "unexpected_device"  # present where none should be, or not the one expected
    LOCK_FAULT = "lock_fault"
    # A device the fleet's device list does not name: taken in, never handed out until the fleet lists it.
    UNKNOWN_TO_FLEET = "unknown_to_fleet"


class DeviceHealth(enum.StrEnum):
    GOOD = "good"
    DEGRADED = "degraded"
    FAULTY = "faulty"
    UNKNOWN = "unknown"
