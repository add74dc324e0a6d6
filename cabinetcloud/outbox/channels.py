"""Chat and e-mail channels, sent through Apprise: e-mail (`mailto://`, `mailtos://`), DingTalk robots
(`dingtalk://secret@token/`, signed when the secret is given: dingtalk.py), WeCom group robots (`wecombot://key`),
Microsoft Teams, Slack, and a plain JSON webhook (`json://`, `jsons://`); any URL Apprise knows works.

A message is `{"title", "body", "mentions": [mobile numbers]}`. In a DingTalk group the people are
@-mentioned by mobile number (Apprise's targets become `at.atMobiles`, and their numbers appear in the
text as DingTalk asks); in a WeCom group by `mentioned_mobile_list` (wecom.py). Other channels get the
text alone.

Where the host of a channel's URL is the server the message goes to (e-mail, plain webhooks), it is
checked like a webhook's (netguard.py); the chat services' plugins send to their vendor's fixed host.
"""

from __future__ import annotations

import logging
from typing import Any, Final
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import apprise

from cabinetcloud.outbox import dingtalk, netguard, wecom
from cabinetcloud.outbox.queue import Outcome

# Schemes whose URL host is where the message is sent: checked against private addresses.
HOST_SCHEMES: Final = frozenset({"mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms"})


class ChannelError(ValueError):
    """A channel URL that Apprise cannot use, or that points where the cloud does not send."""


def check(url: str, *, allow_private: bool) -> None:
    """Refuse a channel URL before it is saved: unknown to Apprise, or aimed at a private address."""
    if apprise.Apprise.instantiate(url) is None:
        raise ChannelError(f"channel URL {urlsplit(url).scheme}://… is not one Apprise can send to")
    _check_host(url, allow_private=allow_private)


def _check_host(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in HOST_SCHEMES or allow_private:
        return
    hosts = [parts.hostname or "", *parse_qs(parts.query).get("smtp", [])]
    try:
        for host in hosts:
            netguard.check_addresses(host, netguard.resolve(host, parts.port or 443))
    except netguard.UnsafeAddress as exc:
        raise ChannelError(str(exc)) from None


def _with_mentions(url: str, mentions: list[str]) -> str:
    if not mentions or urlsplit(url).scheme != "dingtalk":
        return url
    base, _, query = url.partition("?")
    return base.rstrip("/") + "/" + "/".join(mentions) + "/" + (f"?{query}" if query else "")


def _body(message: dict[str, Any], scheme: str) -> str:
    body = str(message["body"])
    mentions = message.get("mentions") or []
    if mentions and scheme == "dingtalk":
        # DingTalk shows an @-mention only when the text names the number too.
        body += "\n" + " ".join(f"@{mobile}" for mobile in mentions)
    return body


def _addressed(url: str, message: dict[str, Any]) -> str:
    """The URL a message goes to: the person's own Apprise URL when they have one, and for e-mail the
    person's address as the recipient (`to=`)."""
    url = str(message.get("url") or url)
    to = message.get("to")
    parts = urlsplit(url)
    if to and parts.scheme in ("mailto", "mailtos"):
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "to"] + [("to", str(to))]
        url = urlunsplit(parts._replace(query=urlencode(query)))
    return url


def send(endpoint_url: str, message: dict[str, Any], *, allow_private: bool) -> Outcome:
    url = _addressed(endpoint_url, message)
    try:
        _check_host(url, allow_private=allow_private)
    except ChannelError as exc:
        return Outcome("refused", None, str(exc))
    scheme = urlsplit(url).scheme
    mentions = [str(m) for m in message.get("mentions") or []]
    if scheme == "wecombot":
        plugin = wecom.with_mentions(url, mentions)
    elif scheme == "dingtalk":
        plugin = dingtalk.plugin(_with_mentions(url, mentions))
    else:
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return Outcome("refused", None, f"channel URL {scheme}://… is not one Apprise can send to")
    with apprise.LogCapture(level=logging.WARNING) as captured:
        sent = plugin.notify(body=_body(message, scheme), title=str(message.get("title", "")))
    if sent:
        return Outcome("delivered")
    detail = " ".join(str(captured.getvalue()).split())[-500:] or "the channel refused the message"
    return Outcome("retry", None, detail)
