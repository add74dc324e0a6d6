"""Frames and messages of the device agent protocol: byte fixtures, exact errors, hypothesis."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cabinetd.hal.agentframe import MAX_PAYLOAD, Frame, FrameDecoder, decode_frame, encode_frame, parse_header
from cabinetd.hal.agentprotocol import (
    SelftestCheck,
    SelftestReport,
    decode_reply,
    decode_request,
    decode_result,
    encode_message,
    from_ms,
    since_ms,
)
from cabinetd.hal.errors import FrameError

HELLO_FRAME = bytes.fromhex("4342 01 00 00000027") + b'{"v":1,"id":1,"type":"hello","args":{}}'


def test_ok__frame_fixture() -> None:
    assert encode_frame(b"{}") == bytes.fromhex("4342 01 00 00000002 7b7d")
    assert encode_frame(b"") == bytes.fromhex("4342 01 00 00000000")
    assert decode_frame(bytes.fromhex("4342 01 00 00000002 7b7d")) == Frame(1, b"{}")


def test_ok__largest_frame() -> None:
    payload = b"x" * MAX_PAYLOAD
    frame = encode_frame(payload)
    assert frame[4:8] == bytes.fromhex("00010000")
    assert decode_frame(frame) == Frame(1, payload)


BAD_FRAMES = {
    "short header": ("4342 01 00 0000", "byte 6: header is 6 bytes, expected 8"),
    "bad magic": ("4343 01 00 00000000", "byte 1: expected magic byte 0x42, got 0x43"),
    "unknown version": ("4342 02 00 00000000", "byte 2: unknown protocol version 2 (supported: 1)"),
    "reserved byte set": ("4342 01 80 00000000", "byte 3: reserved byte must be 0, got 0x80"),
    "too long": ("4342 01 00 00010001", "byte 4: frame announces 65537 bytes, over the 65536-byte limit"),
    "cut short": ("4342 01 00 00000003 7b7d", "byte 10: frame is 10 bytes, its header announces 11"),
    "trailing bytes": ("4342 01 00 00000001 7b7d", "byte 9: frame is 10 bytes, its header announces 9"),
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
def test_fail__bad_frames(name: str) -> None:
    data, message = BAD_FRAMES[name]
    with pytest.raises(FrameError) as caught:
        decode_frame(bytes.fromhex(data))
    assert str(caught.value) == message


def test_fail__encoding_a_payload_over_the_limit() -> None:
    with pytest.raises(FrameError) as caught:
        encode_frame(b"x" * (MAX_PAYLOAD + 1))
    assert str(caught.value) == "byte 4: payload of 65537 bytes exceeds the 65536-byte limit"


def test_ok__decoder_takes_a_stream_in_any_pieces() -> None:
    stream = encode_frame(b'{"a":1}') + encode_frame(b"") + encode_frame(b"[2]")
    decoder = FrameDecoder()
    frames = [frame for byte in stream for frame in decoder.feed(bytes([byte]))]
    assert frames == [Frame(1, b'{"a":1}'), Frame(1, b""), Frame(1, b"[2]")]
    assert decoder.pending == 0
    assert decoder.expected is None


def test_fail__decoder_rejects_a_bad_first_byte_at_once_and_stays_broken() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameError) as caught:
        decoder.feed(b"{")
    assert str(caught.value) == "byte 0: expected magic byte 0x43, got 0x7B"
    with pytest.raises(FrameError):
        decoder.feed(encode_frame(b"{}"))
    decoder.reset()
    assert decoder.feed(encode_frame(b"{}")) == [Frame(1, b"{}")]


def test_ok__decoder_reports_the_frame_in_progress() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"0123456789")[:12]) == []
    assert (decoder.pending, decoder.expected) == (12, 18)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"", b"CB", b"CB\x01\x00", b"CB\x01\x00\x00\x00"]),
    st.lists(st.binary(max_size=64), max_size=20),
)
def test_ok__any_byte_stream_raises_only_frame_error_and_ends(start: bytes, chunks: list[bytes]) -> None:
    # Streams that begin like a frame reach the later header fields, and the payload.
    chunks = [start + (chunks[0] if chunks else b""), *chunks[1:]]
    decoder = FrameDecoder()
    offset = None
    try:
        for chunk in chunks:
            decoder.feed(chunk)
    except FrameError as error:
        offset = error.offset
    assert offset is None or 0 <= offset < 8  # only a header can be wrong at this layer
    # Nothing to wait for can exceed what a header may announce.
    assert decoder.pending <= 8 + MAX_PAYLOAD


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=8, max_size=8).map(lambda header: b"CB\x01\x00" + header[4:]), st.binary(max_size=32))
def test_ok__any_header_after_the_magic_raises_only_frame_error(header: bytes, rest: bytes) -> None:
    length = int.from_bytes(header[4:], "big")
    if length > MAX_PAYLOAD:
        with pytest.raises(FrameError) as caught:
            parse_header(header)
        assert caught.value.offset == 4
        return
    assert parse_header(header).length == length
    frames = FrameDecoder().feed(header + rest[:length])
    assert frames == ([Frame(1, rest[:length])] if len(rest) >= length else [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=2048), min_size=1, max_size=8), st.data())
def test_ok__frames_round_trip_whatever_the_cuts(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(payload) for payload in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    decoder = FrameDecoder()
    frames = [frame for piece in pieces for frame in decoder.feed(piece)]
    assert frames == [Frame(1, payload) for payload in payloads]
    assert decoder.pending == 0


# --- messages -------------------------------------------------------------------------------------


def test_ok__request_fixture() -> None:
    frame = decode_frame(HELLO_FRAME)
    request = decode_request(frame.payload)
    assert (request.v, request.id, request.type, request.args) == (1, 1, "hello", {})
    assert encode_frame(encode_message(request)) == HELLO_FRAME


BAD_REPLIES = {
    "not UTF-8": (b'{"v":\xff}', "byte 13: not UTF-8"),
    "not JSON": (b'{"v":1,', "byte 15: not JSON: Expecting property name enclosed in double quotes"),
    "not an object": (b"[1]", "byte 8: expected a JSON object, got list"),
    "no id": (b'{"v":1,"type":"hello","status":"ok","result":{}}', "byte 8: not a reply: id: Field required"),
    "bad status": (
        b'{"v":1,"id":1,"type":"hello","status":"done"}',
        "byte 8: not a reply: status: Input should be 'ok', 'error' or 'working'",
    ),
    "ok without result": (
        b'{"v":1,"id":1,"type":"hello","status":"ok"}',
        "byte 8: not a reply: message: Value error, an ok reply needs a result",
    ),
    "error without error": (
        b'{"v":1,"id":1,"type":"hello","status":"error"}',
        "byte 8: not a reply: message: Value error, an error reply needs an error",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_REPLIES))
def test_fail__bad_replies(name: str) -> None:
    payload, message = BAD_REPLIES[name]
    with pytest.raises(FrameError) as caught:
        decode_reply(payload)
    assert str(caught.value) == message


def test_fail__result_with_a_wrong_field() -> None:
    reply = decode_reply(b'{"v":1,"id":1,"type":"selftest","status":"ok","result":{"checks":[{"name":"wifi"}]}}')
    with pytest.raises(ValueError, match=r"^result\.checks\.0\.passed: Field required$"):
        decode_result(SelftestReport, reply)


def test_ok__unknown_fields_are_ignored() -> None:
    reply = decode_reply(b'{"v":1,"id":7,"type":"end_session","status":"ok","result":{"signed_out":true},"x":[]}')
    assert (reply.id, reply.result) == (7, {"signed_out": True})


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_ok__any_payload_raises_only_frame_error(payload: bytes) -> None:
    for decode in (decode_reply, decode_request):
        offset = None
        try:
            decode(payload)
        except FrameError as error:
            offset = error.offset
        assert offset is None or offset >= 8


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
        max_leaves=20,
    )
)
def test_ok__any_json_value_raises_only_frame_error(value: object) -> None:
    offset = None
    try:
        decode_reply(json.dumps(value).encode())
    except FrameError as error:
        offset = error.offset
    assert offset in (None, 8)


def test_ok__selftest_verdict() -> None:
    checks = [SelftestCheck(name=name, passed=True, evidence="ok") for name in ("battery_health", "touchscreen")]
    report = SelftestReport(checks=[*checks, SelftestCheck(name="vendor_fan", passed=False, evidence="stalled")])
    assert report.failed() == ["scanner", "camera", "wifi", "storage", "drop_counter", "vendor_fan"]


def test_ok__times_on_the_wire() -> None:
    assert since_ms(from_ms(1740816000000)) == 1740816000000
    assert str(from_ms(1740816000000)) == "2025-03-01 08:00:00+00:00"
