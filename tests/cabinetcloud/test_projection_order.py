"""The projection does not depend on the order in which cabinets upload and are projected: the
story's batches replayed in random interleavings (each cabinet's in its own order) give every view
the story gave. On its own module, since it empties and refills the story's cloud."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cabinetcloud import schema
from cabinetcloud.ingest import ingest_batch
from cabinetcloud.projections import catch_up, projector, run_once
from cabinetcloud.storage import Storage
from tests.cabinetcloud.fleet_history import Fleet
from tests.cabinetcloud.fleet_story import LATER
from tests.cabinetcloud.told import ENGINES, tell
from tests.cabinetcloud.views_rig import every_view


def _forget_the_fleet_s_events(storage: Storage) -> None:
    projector.reset(storage)
    with storage.writing() as conn:
        for table in (schema.events, schema.dead_letters, schema.epochs):
            conn.execute(sa.delete(table))


_told = pytest.fixture(scope="module", params=ENGINES, name="told")(tell)

_EXPECTED: dict[str, dict[str, Any]] = {}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_ok__the_views_do_not_depend_on_the_order_cabinets_upload_and_are_projected(
    told: Fleet, data: st.DataObject
) -> None:
    """Each cabinet's batches in its own order; between cabinets, any order, projected at any point."""
    # Taken before the first example: an example cut short leaves the events half uploaded.
    if told.storage.url not in _EXPECTED:
        _EXPECTED[told.storage.url] = every_view(told.storage, LATER, with_history=False)
    expected = _EXPECTED[told.storage.url]
    _forget_the_fleet_s_events(told.storage)
    queues: dict[str, list[int]] = {}
    for index, (caller, _batch) in enumerate(told.log):
        queues.setdefault(caller.cabinet_id, []).append(index)
    while queues:
        cabinet = data.draw(st.sampled_from(sorted(queues)))
        caller, batch = told.log[queues[cabinet].pop(0)]
        if not queues[cabinet]:
            del queues[cabinet]
        ingest_batch(told.storage, caller, batch, told.clock.now)
        if data.draw(st.booleans()):
            run_once(told.storage, told.clock.now, limit=data.draw(st.integers(1, 3)))
    catch_up(told.storage, told.clock.now)
    assert every_view(told.storage, LATER, with_history=False) == expected
