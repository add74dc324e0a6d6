"""WeCom group robots with @-mentions. Apprise's WeCom robot sends the text alone; WeCom's group robot
API (`POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`, msgtype `text`) also takes
`text.mentioned_mobile_list`, the mobile numbers to @-mention. This plugin is Apprise's, with that list
added to the payload it posts."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
from apprise.exception import AppriseException
from apprise.plugins.wecombot import NotifyWeComBot


class WeComMentions(NotifyWeComBot):  # type: ignore[misc]  # Apprise is untyped
    def __init__(self, key: str, mentions: list[str], **kwargs: Any) -> None:
        super().__init__(key, **kwargs)
        self.mentions = mentions

    def send(self, body: str, title: str = "", **kwargs: Any) -> bool:
        text = f"{title}\n{body}" if title else body
        payload = {"msgtype": "text", "text": {"content": text, "mentioned_mobile_list": self.mentions}}
        self.throttle()
        try:
            reply = requests.post(
                self.api_url,
                data=json.dumps(payload, ensure_ascii=False).encode(),
                headers={"User-Agent": self.app_id, "Content-Type": "application/json; charset=utf-8"},
                verify=self.verify_certificate,
                timeout=self.request_timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self.logger.warning("WeCom robot: could not connect: %s", exc)
            return False
        # WeCom answers 200 with {"errcode": 0} when it took the message; another errcode is a refusal.
        if not reply.ok or _errcode(reply) != 0:
            self.logger.warning("WeCom robot refused the message: HTTP %s %s", reply.status_code, reply.text[:200])
            return False
        return True


def _errcode(reply: requests.Response) -> object:
    try:
        answer = reply.json()
    except ValueError:
        return None
    return answer.get("errcode") if isinstance(answer, dict) else None


def with_mentions(url: str, mentions: list[str]) -> Any:
    """The plugin for a `wecombot://KEY` URL, @-mentioning `mentions`; None when the key is not one."""
    key = urlsplit(url).netloc  # not .hostname, which would fold the key's case
    try:
        return WeComMentions(key, mentions)
    except AppriseException:
        return None
