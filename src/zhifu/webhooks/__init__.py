"""Webhooks: endpoints, events in an outbox, and signed delivery with retries."""

from zhifu.webhooks.service import (
    EVENT_TYPES,
    RETRY_SCHEDULE_S,
    create_endpoint,
    delete_endpoint,
    dispatch_due,
    emit,
    list_endpoints,
    list_events,
    sign,
    to_json,
)

__all__ = [
    "EVENT_TYPES",
    "RETRY_SCHEDULE_S",
    "create_endpoint",
    "delete_endpoint",
    "dispatch_due",
    "emit",
    "list_endpoints",
    "list_events",
    "sign",
    "to_json",
]
