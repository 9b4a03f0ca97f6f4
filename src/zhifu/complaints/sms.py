"""短信发送 / the pluggable SMS sender that tells complainants their one-time code, acknowledgement, extension
and outcome. The default writes to the log (the demo's console); production installs a gateway's sender."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger("zhifu.sms")


class SmsSender(Protocol):
    name: str

    def send(self, phone: str, text: str) -> None:
        """Deliver `text` to the mobile number `phone` (11 digits) or raise."""


class LogSender:
    """Writes each message to the log instead of a gateway: for development and the demo."""

    name = "log"

    def send(self, phone: str, text: str) -> None:
        log.warning("SMS to %s: %s", phone, text)


class MemorySender:
    """Keeps messages in memory (tests read the one-time code from here)."""

    name = "memory"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> None:
        with self._lock:
            self.sent.append((phone, text))

    def last_to(self, phone: str) -> str | None:
        with self._lock:
            return next((t for p, t in reversed(self.sent) if p == phone), None)


_sender: SmsSender = LogSender()


def sender() -> SmsSender:
    return _sender


def set_sender(new: SmsSender) -> SmsSender:
    """Install `new` and return the previous sender, so callers can put it back."""
    global _sender
    old, _sender = _sender, new
    return old
