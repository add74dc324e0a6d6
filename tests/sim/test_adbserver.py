"""The fake adb server is faithful when adbutils, unchanged, works against it: the host requests, both
shell protocols, sync pushes, and the errors a real server gives for a device it cannot reach."""

from __future__ import annotations

from collections.abc import Iterator

import adbutils
import pytest

from cabinetd.sim.adbserver import FakeAdbServer
from cabinetd.sim.android import Package, SimAndroid, sim_apk


@pytest.fixture
def server() -> Iterator[FakeAdbServer]:
    found = FakeAdbServer()
    yield found
    found.close()


@pytest.fixture
def client(server: FakeAdbServer) -> adbutils.AdbClient:
    return adbutils.AdbClient(host=server.host, port=server.port)


def test_ok__the_server_says_its_version_and_lists_its_devices_with_their_usb_port(
    server: FakeAdbServer, client: adbutils.AdbClient
) -> None:
    server.attach(SimAndroid("A1-0001", model="PDA A1"), "1-1.2")
    server.attach(SimAndroid("A1-0002"), "1-1.3", state="unauthorized")
    assert client.server_version() == 41
    listed = [(d.serial, d.state, d.tags) for d in client.list(extended=True)]
    assert listed == [
        (
            "A1-0001",
            "device",
            {"usb": "1-1.2", "product": "pda_a1", "model": "PDA_A1", "device": "pda_a1", "transport_id": "1"},
        ),
        ("A1-0002", "unauthorized", {"usb": "1-1.3", "transport_id": "2"}),
    ]
    assert [(d.serial, d.state) for d in client.list()] == [("A1-0001", "device"), ("A1-0002", "unauthorized")]


def test_ok__shell_v1_and_v2_give_the_output_and_v2_the_exit_code(
    server: FakeAdbServer, client: adbutils.AdbClient
) -> None:
    server.attach(SimAndroid("A1-0001"), "1-1.2")
    device = client.device("A1-0001")
    assert device.shell("getprop ro.serialno") == "A1-0001"
    assert device.get_features() == "shell_v2,cmd"
    found = device.shell2(["pm", "enable", "com.example.none"], v2=True)
    assert (found.returncode, found.stdout) == (255, "")
    assert found.stderr.endswith("java.lang.IllegalArgumentException: Unknown package: com.example.none\n")
    assert device.shell2("nosuchtool", v2=True).returncode == 127


def test_ok__a_pushed_apk_is_on_the_device_and_installs(server: FakeAdbServer, client: adbutils.AdbClient) -> None:
    android = SimAndroid("A1-0001")
    server.attach(android, "1-1.2")
    device = client.device("A1-0001")
    apk = sim_apk("com.example.store.home", 240) * 300  # several DATA chunks
    assert device.sync.push(apk, "/data/local/tmp/home.apk") == len(apk)
    assert device.sync.stat("/data/local/tmp/home.apk").size == len(apk)
    assert device.sync.read_bytes("/data/local/tmp/home.apk") == apk
    assert device.shell(["pm", "install", "-r", "/data/local/tmp/home.apk"]) == "Success"
    assert android.packages["com.example.store.home"].version_code == 240


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            "unauthorized",
            "device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"
            "Try 'adb kill-server' if that seems wrong.\nOtherwise check for a confirmation dialog on your device.",
        ),
        ("offline", "device offline"),
    ],
)
def test_fail__a_device_the_server_cannot_reach_is_refused_as_a_real_server_says(
    server: FakeAdbServer, client: adbutils.AdbClient, state: str, message: str
) -> None:
    server.attach(SimAndroid("A1-0001"), "1-1.2", state=state)
    with pytest.raises(adbutils.AdbError) as caught:
        client.device("A1-0001").shell("getprop ro.serialno")
    assert str(caught.value) == message
    assert client.device("A1-0001").get_state() == state


def test_fail__an_unknown_serial_is_not_found(client: adbutils.AdbClient) -> None:
    with pytest.raises(adbutils.AdbError, match=r"^device 'nope' not found$"):
        client.device("nope").shell("true")


def test_fail__a_device_that_falls_off_mid_push_is_offline_after(
    server: FakeAdbServer, client: adbutils.AdbClient
) -> None:
    attached = server.attach(SimAndroid("A1-0001"), "1-1.2")
    attached.drop_after_bytes = 10_000
    with pytest.raises((adbutils.AdbError, OSError, EOFError)):
        client.device("A1-0001").sync.push(b"x" * 50_000, "/data/local/tmp/big.apk")
    assert "/data/local/tmp/big.apk" not in attached.android.files
    assert [d.state for d in client.list()] == ["offline"]


def test_ok__a_shift_of_use_shows_in_usagestats_and_pm_clear_takes_the_apps_data(
    server: FakeAdbServer, client: adbutils.AdbClient
) -> None:
    android = SimAndroid("A1-0001", clock=lambda: 1_790_000_000.0)
    android.packages["com.example.store.home"] = Package(240)
    server.attach(android, "1-1.2")
    android.set_charging(False)
    android.worked(1_789_990_000.0, 1_789_999_000.0, ["com.example.store.home"], drain=20)
    device = client.device("A1-0001")
    events = device.shell("dumpsys usagestats").splitlines()
    assert events[-3:] == [
        '    time="2026-09-21 11:26:41" type=ACTIVITY_RESUMED package=com.example.store.home '
        "class=com.example.store.home.MainActivity flags=0x0",
        '    time="2026-09-21 13:56:39" type=ACTIVITY_PAUSED package=com.example.store.home '
        "class=com.example.store.home.MainActivity flags=0x0",
        '    time="2026-09-21 13:56:40" type=SCREEN_NON_INTERACTIVE package=android flags=0x0',
    ]
    battery = device.shell("dumpsys battery")
    assert "  status: 3\n" in battery
    assert "  level: 60\n" in battery
    assert android.packages["com.example.store.home"].has_data
    assert device.shell(["pm", "clear", "com.example.store.home"]) == "Success"
    assert not android.packages["com.example.store.home"].has_data
