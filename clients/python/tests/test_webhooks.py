"""verify_webhook() on a real delivery: a subscription to a local HTTP server,
a test ping, and its Standard Webhooks signature checked with the secret."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from conftest import eventually, unique

from procedure_edge import Client, ProblemError, WebhookVerificationError, verify_webhook

Delivery = tuple[dict[str, str], bytes]


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[Delivery]]]:
    received: queue.Queue[Delivery] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            received.put(({key: value for key, value in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    server.shutdown()
    server.server_close()


def test_a_delivery_verifies_with_the_subscription_secret(
    admin: Client, receiver: tuple[str, queue.Queue[Delivery]]
) -> None:
    url, received = receiver
    subscription = admin.create_subscription(url, ["procedure.completed"], description=unique("pytest"))
    assert subscription.secret.startswith("whsec_")
    admin.test_subscription(str(subscription.subscription_id))
    headers, body = received.get(timeout=30)

    payload = verify_webhook(subscription.secret, headers, body)
    assert payload["type"] == "ping"

    with pytest.raises(WebhookVerificationError):
        verify_webhook(subscription.secret, headers, body.replace(b"ping", b"pong"))
    other = admin.create_subscription(url, ["procedure.completed"])
    with pytest.raises(WebhookVerificationError):
        verify_webhook(other.secret, headers, body)
    # A delivery signed long ago (a replay) is refused even with the right signature for it.
    stale = {**headers, "webhook-timestamp": "1"}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(subscription.secret, stale, body)


def test_subscriptions_deliveries_and_deletion(admin: Client, receiver: tuple[str, queue.Queue[Delivery]]) -> None:
    url, received = receiver
    subscription = admin.create_subscription(url, ["procedure.held"], filter={"kind": "bake"})
    sid = str(subscription.subscription_id)
    assert sid in [str(s.subscription_id) for s in admin.subscriptions()]
    assert admin.subscription(sid).filter is not None
    ping = admin.test_subscription(sid)
    received.get(timeout=30)

    def delivered() -> None:
        assert [d.outcome for d in admin.deliveries(sid)] == ["delivered"]

    eventually(delivered)
    (record,) = [d for d in admin.all_deliveries(outcome="delivered") if str(d.webhook_id) == str(ping.webhook_id)]
    # Only a delivery that exhausted its attempts is sent again.
    with pytest.raises(ProblemError) as refused:
        admin.redeliver(str(record.delivery_id))
    assert refused.value.error_class == "DeliveryNotRedeliverable"
    admin.delete_subscription(sid)
    with pytest.raises(ProblemError) as gone:
        admin.subscription(sid)
    assert (gone.value.status, gone.value.error_class) == (404, "SubscriptionNotFound")
