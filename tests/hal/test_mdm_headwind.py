"""The Headwind MDM adapter against a fake Headwind server on a loopback port (testbed/headwind.py):
the login it makes, the move into the work type's configuration, and each way the MDM can fail, named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cabinetd.config import HeadwindSection
from cabinetd.hal.mdm import MdmError, MdmTrouble
from cabinetd.hal.mdm.headwind import HeadwindAdapter
from testbed.headwind import FakeHeadwind

SERIAL = "A1-0001"


@pytest.fixture
def server() -> Iterator[FakeHeadwind]:
    fake = FakeHeadwind(configurations={1: "Default", 7: "Price tags"})
    fake.add_device(SERIAL, configuration_id=1)
    yield fake
    fake.close()


def adapter(server: FakeHeadwind, tmp_path: Path, *, password: str = "s3cret", **extra: object) -> HeadwindAdapter:
    secret = tmp_path / "headwind.password"
    secret.write_text(password + "\n")
    section = HeadwindSection.model_validate(
        {
            "url": server.url,
            "login": "cabinet-api",
            "password_file": str(secret),
            "configurations": {"price-tags": "Price tags", "stock-count": "Stock count"},
            **extra,
        }
    )
    return HeadwindAdapter(section)


async def test_ok__the_device_is_moved_into_the_work_types_configuration(server: FakeHeadwind, tmp_path: Path) -> None:
    mdm = adapter(server, tmp_path)
    assert await mdm.assign(SERIAL, "price-tags") == "Price tags"
    assert server.devices[SERIAL]["configurationId"] == 7
    assert server.moves == [(SERIAL, "Price tags")]
    # Asked again, it is there already: no second move, and the token is reused.
    assert await mdm.assign(SERIAL, "price-tags") == "Price tags"
    assert (server.moves, server.logins) == ([(SERIAL, "Price tags")], 1)
    await mdm.close()


async def test_ok__an_expired_token_is_renewed_once(server: FakeHeadwind, tmp_path: Path) -> None:
    mdm = adapter(server, tmp_path)
    await mdm.assign(SERIAL, "price-tags")
    server.expire_tokens()
    server.devices[SERIAL]["configurationId"] = 1
    assert await mdm.assign(SERIAL, "price-tags") == "Price tags"
    assert server.logins == 2
    await mdm.close()


@pytest.mark.parametrize(
    ("setup", "work_type", "trouble", "detail"),
    [
        ("wrong password", "price-tags", MdmTrouble.REFUSED, "login as 'cabinet-api': HTTP 401"),
        (
            "unknown device",
            "price-tags",
            MdmTrouble.UNKNOWN_DEVICE,
            f"GET /rest/private/devices/number/{SERIAL}: error.notfound.device",
        ),
        ("unmapped work type", "returns", MdmTrouble.NO_CONFIGURATION, "work type 'returns' maps to no configuration"),
        ("configuration gone", "stock-count", MdmTrouble.NO_CONFIGURATION, "no configuration named 'Stock count'"),
        ("server error", "price-tags", MdmTrouble.UNREACHABLE, "GET /rest/private/configurations/list: HTTP 500"),
        ("hangs", "price-tags", MdmTrouble.UNREACHABLE, "POST /rest/public/jwt/login: no answer in 0.5 s"),
        ("down", "price-tags", MdmTrouble.UNREACHABLE, "POST /rest/public/jwt/login: "),
    ],
)
async def test_fail__each_way_the_mdm_fails_is_named(
    server: FakeHeadwind, tmp_path: Path, setup: str, work_type: str, trouble: MdmTrouble, detail: str
) -> None:
    mdm = adapter(server, tmp_path, password="wrong" if setup == "wrong password" else "s3cret", timeout_s=0.5)
    if setup == "unknown device":
        server.devices.clear()
    elif setup == "server error":
        server.fail_with = 500
    elif setup == "hangs":
        server.hang_s = 1.5
    elif setup == "down":
        server.close()
    with pytest.raises(MdmError) as raised:
        await mdm.assign(SERIAL, work_type)
    assert raised.value.trouble is trouble
    assert str(raised.value).startswith(f"headwind: {trouble.value}: {detail}")
    assert server.moves == []
    await mdm.close()


def test_fail__a_password_file_that_is_not_there_is_named(server: FakeHeadwind, tmp_path: Path) -> None:
    section = HeadwindSection.model_validate(
        {"url": server.url, "login": "cabinet-api", "password_file": str(tmp_path / "missing")}
    )
    with pytest.raises(ValueError, match=r"mdm.headwind.password_file: cannot read .*missing: No such file"):
        HeadwindAdapter(section)
