"""The reminders' words, in each language a store uses (docs/notifications.md). A message carries every
language of the store, its first language first, so that one message reaches everyone who reads it."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from cabinetcloud.outbox.messages import RentalReminder
from cabinetcloud.outbox.notices import Notices

TITLES: Final = {
    "en": {"due_soon": "Devices due back soon", "overdue": "Devices overdue", "escalation": "Overdue devices"},
    "zh-CN": {"due_soon": "设备即将到期，请归还", "overdue": "设备已逾期未还", "escalation": "逾期未还的设备"},
}
LINES: Final = {
    "en": {
        "due_soon": "{name}, please return by {due}:",
        "overdue": "{name}, these were due back at {due}:",
        "escalation": "{name} has not returned these, due at {due}:",
        "device": "- {serial} ({model}) from cabinet {cabinet}",
    },
    "zh-CN": {
        "due_soon": "{name}，请在 {due} 前归还：",
        "overdue": "{name}，以下设备应于 {due} 归还：",
        "escalation": "{name} 尚未归还以下设备（应于 {due} 归还）：",
        "device": "- {serial}（{model}），取自柜机 {cabinet}",
    },
}


def _local(at: datetime, notices: Notices) -> str:
    return at.astimezone(notices.zone).strftime("%Y-%m-%d %H:%M")


def render(reminder: RentalReminder, notices: Notices, kind: str) -> tuple[str, str]:
    """The title and text of one reminder in every language of the store."""
    titles, blocks = [], []
    name = reminder.staff.name or reminder.staff.id
    due = _local(min(device.due_at for device in reminder.devices), notices)
    for language in notices.languages:
        words = LINES[language]
        titles.append(TITLES[language][kind])
        lines = [words[kind].format(name=name, due=due)]
        lines += [
            words["device"].format(serial=d.serial, model=d.model or "?", cabinet=d.cabinet) for d in reminder.devices
        ]
        blocks.append("\n".join(lines))
    return " / ".join(titles), "\n\n".join(blocks)
