"""消息标记 / Message marking shared by every layer: N_ marks an English msgid for the console catalogue's
extraction (babel.cfg) without translating it; the page that shows it translates it."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the gettext convention's name
    """Mark a string for extraction without translating it yet (translate where it is shown)."""
    return message
