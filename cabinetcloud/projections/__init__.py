"""The fleet's projections and views (issue 16 §3, §4; docs/fleet-views.md).

The projector (`run_once`, `catch_up`) turns ingested events into projection tables; `device_status`
and the views in views.py, usage.py and history.py read them for the admin API and the dashboard.
"""

from __future__ import annotations

from cabinetcloud.projections.projector import catch_up, run_once
from cabinetcloud.projections.shapes import DeviceState
from cabinetcloud.projections.status import LOST_AFTER_DAYS, device_status

__all__ = ["LOST_AFTER_DAYS", "DeviceState", "catch_up", "device_status", "run_once"]
