"""`cabinetctl device clear SERIAL`: a technician lifts a critical problem report through the control
socket; the device sitting faulty is inspected again and back in service, every step recorded."""

from __future__ import annotations

import getpass
import os

from cabinetd.api.control import shapes
from cabinetd.ctl.client import EXIT_FAILED, EXIT_OK
from tests.ctl.conftest import Ctl
from tests.flows.test_flows import rent
from tests.flows.test_problem_report import insert_and_close, open_return

ME = getpass.getuser()


async def test_ok__clear_a_critical_report_and_the_device_is_back_in_service(ctl: Ctl) -> None:
    rig = ctl.rig
    await rent(rig)
    slot, serial = await open_return(rig)
    assert await rig.controller.report_problem("damaged", "cracked case") is None
    await insert_and_close(rig, slot, serial)
    assert rig.state(slot) == "faulty"
    said = await ctl("device", "clear", serial, "--reason", "case replaced", "--json")
    assert (said.code, said.err) == (EXIT_OK, "")
    done = shapes.ReportCleared.model_validate_json(said.out)
    assert (done.device, done.slot, done.technician) == (serial, slot, ME)
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    uid = os.getuid()
    why = f"re-inspect {serial} after its problem report was cleared"
    assert ctl.technician_actions()[-3:] == [
        ("clear_report", slot, ME, {"serial": serial, "reason": "case replaced", "uid": uid}),
        ("disable", slot, ME, {"reason": why, "uid": uid}),
        ("enable", slot, ME, {"reason": why, "uid": uid}),
    ]


async def test_fail__a_device_with_no_critical_report_has_nothing_to_clear(ctl: Ctl) -> None:
    said = await ctl("device", "clear", "SIM0001")
    refused = "cabinetctl: device SIM0001 has no critical problem report to clear\n"
    assert (said.code, said.err) == (EXIT_FAILED, refused)
    assert ctl.technician_actions() == []
