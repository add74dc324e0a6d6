"""The string catalogues: one per language, the same keys and placeholders in each, and a string for
everything the daemon can put on the screen (every refusal, slot state, alarm and self-test check)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cabinetd.hal.agentprotocol import SELFTEST_CHECKS
from cabinetd.policy import Refusal
from cabinetproto.enums import Alarm, SlotState
from cabinetproto.events import PROBLEM_REASONS

STATIC = Path(__file__).resolve().parents[3] / "cabinetd" / "api" / "static"
LANGUAGES = ("zh-CN", "en")
# Reasons the flows give besides the policy's refusals, and checks the inspection reports itself.
FLOW_REASONS = ("no_free_slot", "dispense_cancelled", "return_cancelled", "step_refused")
FLOW_CHECKS = ("unresponsive", "link", "port_power", "lock", "hardware")
# Why the flows call off a rent or return (the refused screen's `cause`).
FLOW_CAUSES = (
    "door_not_opened", "cancelled_on_screen", "looked", "device_left_inside", "no_device_put_in", "lock_fault"
)


def catalogue(language: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((STATIC / "i18n" / f"{language}.json").read_text(encoding="utf-8"))
    return loaded


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_ok__both_languages_have_the_same_keys_and_placeholders() -> None:
    chinese, english = catalogue("zh-CN"), catalogue("en")
    assert sorted(chinese) == sorted(english)
    assert {key: placeholders(text) for key, text in chinese.items()} == {
        key: placeholders(text) for key, text in english.items()
    }
    assert all(text.strip() for text in [*chinese.values(), *english.values()])


@pytest.mark.parametrize("language", LANGUAGES)
def test_ok__every_string_the_page_asks_for_is_in_the_catalogue(language: str) -> None:
    strings = catalogue(language)
    script = "".join(
        (STATIC / name).read_text(encoding="utf-8") for name in ("kiosk.js", "notice.js", "report.js", "keyboard.js")
    )
    page = (STATIC / "kiosk.html").read_text(encoding="utf-8")
    asked = set(re.findall(r'\bt\("([\w.]+)"', script)) | set(re.findall(r'data-t="([\w.]+)"', page))
    assert asked  # the patterns still match how the page is written
    assert sorted(asked - set(strings)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_ok__everything_the_daemon_can_show_has_words(language: str) -> None:
    strings = catalogue(language)
    wanted = {f"refused.{reason.value}" for reason in Refusal} | {f"refused.{reason}" for reason in FLOW_REASONS}
    wanted |= {f"state.{state.value}" for state in SlotState}
    wanted |= {f"alarm.{alarm.value}" for alarm in Alarm}
    wanted |= {f"check.{check}" for check in (*SELFTEST_CHECKS, *FLOW_CHECKS)}
    wanted |= {f"dispensing.{step}" for step in ("provisioning", "door", "take", "close")}
    wanted |= {f"returning.{step}" for step in ("door", "insert", "checking")}
    wanted |= {f"button.{choice}" for choice in ("rent", "return", "look", "cancel", "report")}
    wanted |= {f"cause.{cause}" for cause in FLOW_CAUSES}
    wanted |= {f"report.reason.{reason}" for reason in PROBLEM_REASONS}
    assert sorted(wanted - set(strings)) == []
