"""Schemathesis over the admin API's part of /openapi.json with an admin's token: no server error,
and every reply matches the document."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from cabinetcloud import operators
from cabinetcloud.app import create_app
from cabinetcloud.operators import Role
from testbed import cloudharness

_work = Path(tempfile.mkdtemp(prefix="cabinet-admin-openapi-"))
_storage = cloudharness.seeded(cloudharness.migrated(f"sqlite:///{_work / 'cloud.db'}"))
cloudharness.enroll(_storage)
with _storage.writing() as _conn:
    operators.add(_conn, "ada", Role.ADMIN)
APP = create_app(_storage, max_wait_s=0.05, poll_s=0.01)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(path_regex="^/v1/admin")


def _admin_token() -> str:
    # A fresh token for each case: a generated case may revoke the one before (DELETE .../tokens/{id}).
    with _storage.writing() as conn:
        return operators.issue_token(conn, "ada", "fuzz")[1]


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_ok__no_server_error_and_replies_match_the_schema(case: schemathesis.Case) -> None:
    # Not checked: whether every schema-valid body is accepted (an unknown store is refused on
    # purpose) or every invalid one refused (a login with a wrong password is a 401 either way).
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_admin_token()}"},
        excluded_checks=[
            checks.positive_data_acceptance,
            checks.negative_data_rejection,
            checks.ignored_auth,
            checks.allow_header_conformance,  # the framework answers 405 per route, not per path
        ],
    )
