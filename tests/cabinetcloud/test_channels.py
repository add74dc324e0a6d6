"""Reminders through real channels: e-mail to a real SMTP server (aiosmtpd), and DingTalk and WeCom group
robots, whose payloads a local receiver checks against their documented shapes (DingTalk's signature
recomputed). Apprise's robot plugins post to the vendors' fixed hosts; the tests point those at the
local receiver, the lowest layer there is."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.wecombot import NotifyWeComBot

from cabinetcloud.outbox import channels
from testbed import cloudharness
from testbed.receivers import Reply, webhook_receiver

REMINDER = {"title": "Devices due back soon", "body": "Anna Li, please return by 17:00:\n- S1-0001 (pda-s1)"}


class Inbox:
    def __init__(self) -> None:
        self.mail: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mail.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = cloudharness.free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_an_email_reminder_reaches_a_real_smtp_server(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    store_channel = f"mailto://127.0.0.1:{port}?from=cabinet@demo.example"
    message = {**REMINDER, "mentions": [], "to": "anna@demo.example"}
    outcome = channels.send(store_channel, message, allow_private=True)
    assert outcome.outcome == "delivered", outcome.detail
    ((recipients, raw),) = inbox.mail
    assert recipients == ["anna@demo.example"]
    mail = message_from_bytes(raw)
    assert str(make_header(decode_header(mail["Subject"]))) == "Devices due back soon"
    assert "S1-0001" in (mail.get_payload(decode=True) or b"").decode() or "S1-0001" in raw.decode(errors="replace")


def test_a_mail_server_on_a_private_address_needs_the_endpoints_allowance(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    outcome = channels.send(
        f"mailto://127.0.0.1:{port}?from=c@d.example", {**REMINDER, "to": "a@d.example"}, allow_private=False
    )
    assert outcome.outcome == "refused"
    assert "loopback" in outcome.detail
    assert inbox.mail == []


def test_dingtalk_is_signed_and_mentions_by_mobile(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "SEC0123456789abcdef"
    with webhook_receiver(default=Reply(200, body=b'{"errcode":0,"errmsg":"ok"}')) as robot:
        monkeypatch.setattr(NotifyDingTalk, "notify_url", robot.url + "?access_token={token}")
        message = {**REMINDER, "mentions": ["13800138000"]}
        outcome = channels.send(f"dingtalk://{secret}@abc123token/", message, allow_private=False)
    assert outcome.outcome == "delivered", outcome.detail
    (came,) = robot.received
    query = parse_qs(urlsplit(came.path).query)
    assert query["access_token"] == ["abc123token"]
    # DingTalk's custom robot signature: base64(HMAC-SHA256(secret, "timestamp\nsecret")), URL-encoded.
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{query['timestamp'][0]}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected]
    body = json.loads(came.body)
    assert body["msgtype"] == "text"
    assert body["at"] == {"atMobiles": ["13800138000"], "isAtAll": False}
    assert "@13800138000" in body["text"]["content"], "DingTalk shows the mention only when the text names it"
    assert "S1-0001" in body["text"]["content"]


def test_wecom_mentions_by_mobile(monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_receiver(
        default=Reply(200, body=b'{"errcode":0,"errmsg":"ok"}', headers={"Content-Type": "application/json"})
    ) as robot:
        monkeypatch.setattr(NotifyWeComBot, "notify_url", robot.url + "?key={key}")
        outcome = channels.send("wecombot://botkey-42", {**REMINDER, "mentions": ["13800138000"]}, allow_private=False)
    assert outcome.outcome == "delivered", outcome.detail
    (came,) = robot.received
    assert parse_qs(urlsplit(came.path).query)["key"] == ["botkey-42"]
    body = json.loads(came.body)
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == ["13800138000"]
    assert "S1-0001" in body["text"]["content"]


def test_a_wecom_refusal_is_a_failed_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    refusal = Reply(
        200, body=b'{"errcode":93000,"errmsg":"invalid webhook url"}', headers={"Content-Type": "application/json"}
    )
    with webhook_receiver(default=refusal) as robot:
        monkeypatch.setattr(NotifyWeComBot, "notify_url", robot.url + "?key={key}")
        outcome = channels.send("wecombot://botkey-42", {**REMINDER, "mentions": ["13800138000"]}, allow_private=False)
    assert outcome.outcome == "retry"
