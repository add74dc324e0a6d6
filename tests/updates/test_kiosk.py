"""The kiosk's technician screen shows the software: what is installed, the release offered and the
last update's outcome, in both languages."""

from __future__ import annotations

from typing import get_args

import pytest

from cabinetd.api.kiosk import kiosk_model
from cabinetd.release import OUTCOME_WORDS, STAGE_WORDS
from cabinetd.updates.history import Stage
from tests.api.kiosk.test_catalogue import LANGUAGES, catalogue
from tests.flows.rig import Rig


@pytest.mark.parametrize("language", LANGUAGES)
def test_ok__every_stage_and_outcome_has_words(language: str) -> None:
    strings = catalogue(language)
    assert set(get_args(Stage)) == set(STAGE_WORDS)
    for stage in [*STAGE_WORDS, *OUTCOME_WORDS]:
        assert f"software.stage.{stage}" in strings


async def test_ok__the_technician_screen_carries_the_software(rig: Rig) -> None:
    view = rig.cabinet.view
    assert kiosk_model(view)["software"] is None  # not on the staff's screens
    updates = rig.cabinet.updates
    updates.record("update_offered", {"release": "rel-7", "version": "0.2.0", "allow_downgrade": False})
    updates.record("update_installing", {"release": "rel-7", "version": "0.2.0", "from_version": "0.1.0"})
    rig.controller.screen.show("maintenance", name="Tomas")
    software = kiosk_model(view)["software"]
    assert software["installed"] == rig.cabinet.release.installed
    assert software["offered"] == {
        "release": "rel-7",
        "version": "0.2.0",
        "stage": "installing",
        "at": software["offered"]["at"],
        "waiting_for": None,
    }
    assert software["last_update"] is None
