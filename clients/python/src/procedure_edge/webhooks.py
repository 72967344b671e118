"""Checking a webhook delivery: the service signs each one as the Standard
Webhooks specification says (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), keyed with the subscription's ``whsec_`` secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = ["WebhookVerificationError", "verify_webhook"]


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str) -> Any:
    """The delivery's payload (``{type, timestamp, data}``) when its signature and timestamp check out.

    ``body`` is the request body exactly as received. Raises
    ``WebhookVerificationError`` for a missing or wrong signature, or a
    timestamp more than five minutes away (a replay).
    """
    return Webhook(secret).verify(body, dict(headers))
