"""docs/device-protocol.md is what agent developers build from: its examples must be what the code reads."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from cabinetd.hal import agentframe
from cabinetd.hal.agentprotocol import (
    ERROR_CODES,
    MAX_REQUEST_ID,
    REQUEST_TYPES,
    RESULTS,
    SELFTEST_CHECKS,
    ProvisionArgs,
    UsageArgs,
    decode_reply,
    decode_request,
    decode_result,
)
from cabinetd.hal.aoa import ACCESSORY_PRODUCTS, AOA_VENDOR, GET_PROTOCOL, SEND_STRING, START, AccessoryIdentity
from cabinetd.hal.devicelink import REFRESH_S, REQUEST_LIMITS

DOC = (Path(__file__).parents[2] / "docs" / "device-protocol.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def test_ok__every_json_example_is_a_valid_message() -> None:
    examples = [json.loads(block) for block in blocks("json")]
    requests = [example for example in examples if "args" in example]
    replies = [example for example in examples if "status" in example]
    assert len(requests) + len(replies) == len(examples)
    assert sorted({request["type"] for request in requests}) == sorted(REQUEST_TYPES)
    assert {reply["type"] for reply in replies if reply["status"] == "ok"} == set(REQUEST_TYPES)
    assert {reply["status"] for reply in replies} == {"ok", "error", "working"}
    for example in requests:
        request = decode_request(json.dumps(example).encode())
        if request.type == "provision":
            ProvisionArgs.model_validate(request.args)
        elif request.type == "usage":
            UsageArgs.model_validate(request.args)
        else:
            assert request.args == {}
    for example in replies:
        reply = decode_reply(json.dumps(example).encode())
        if reply.status == "ok":
            decode_result(RESULTS[reply.type], reply)


def test_ok__hex_example_is_the_frame_of_its_json() -> None:
    (block,) = blocks("hex")
    frame = agentframe.decode_frame(bytes.fromhex(block))
    assert frame.payload == b'{"v":1,"id":1,"type":"hello","args":{}}'
    assert f"the {len(frame.payload)}-byte payload `{frame.payload.decode()}`" in DOC


def table(header: str, column: int = 0) -> list[str]:
    """One column of the table whose header row starts with `header`; a leading code span stands for its cell."""
    lines = DOC.splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith(header))
    body = itertools.takewhile(lambda line: line.startswith("|"), lines[first + 2 :])
    cells = [row.split("|")[column + 1].strip() for row in body]
    return [cell.split("`")[1] if cell.startswith("`") else cell for cell in cells]


def test_ok__tables_match_the_code() -> None:
    assert table("| `code` | when |") == list(ERROR_CODES)
    assert table("| `name` | what the agent checks |") == list(SELFTEST_CHECKS)
    assert table("| index | field | value sent by the cabinet |", 2)[:4] == list(AccessoryIdentity().strings()[:4])


def facts() -> dict[str, Any]:
    return {
        "`18D1`": AOA_VENDOR == 0x18D1,
        "`2D00`": 0x2D00 in ACCESSORY_PRODUCTS,
        "`2D01`": 0x2D01 in ACCESSORY_PRODUCTS,
        "| 51 (`33`) |": GET_PROTOCOL == 51,
        "| 52 (`34`) |": SEND_STRING == 52,
        "| 53 (`35`) |": START == 53,
        "**65536 bytes**": agentframe.MAX_PAYLOAD == 65536,
        "0 to 4294967295": MAX_REQUEST_ID == 4294967295,
        "| `selftest`, in all, `working` replies included | 6 × `T` |": REQUEST_LIMITS["selftest"] == 6,
        "| `provision`, in all, `working` replies included | 30 × `T` |": REQUEST_LIMITS["provision"] == 30,
        "| `hello`, `usage`, `end_session`, in all | `T` |": {
            REQUEST_LIMITS[k] for k in ("hello", "usage", "end_session")
        }
        == {1},
        "| `hello` while a handheld sits in its slot | every 60 s |": REFRESH_S == 60,
    }


def test_ok__numbers_in_the_text_match_the_code() -> None:
    for text, holds in facts().items():
        assert text in DOC, text
        assert holds, text
