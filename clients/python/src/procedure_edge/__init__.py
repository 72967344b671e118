"""A Python client for procedure-edge: ``Client`` and ``AsyncClient`` for every
route, an activity writer for instrument gateways, ``follow()`` over the live
stream, ``verify_webhook()`` for notifications, and (with the ``bluesky``
extra) ``procedure_edge.bluesky.ProcedureRecorder``."""

from . import models
from ._core import RetryPolicy
from .client import AsyncClient, Client
from .errors import NetworkError, ProblemError, is_problem
from .follow import StreamMessage
from .webhooks import WebhookVerificationError, verify_webhook
from .writer import MAX_BATCH, ActivityWriter, AsyncActivityWriter

__all__ = [
    "MAX_BATCH",
    "ActivityWriter",
    "AsyncActivityWriter",
    "AsyncClient",
    "Client",
    "NetworkError",
    "ProblemError",
    "RetryPolicy",
    "StreamMessage",
    "WebhookVerificationError",
    "is_problem",
    "models",
    "verify_webhook",
]
