"""The clients: ``Client`` (sync) and ``AsyncClient``, the same methods in both.
Each method is one operation of ``_operations``; the transport-neutral
``Core`` decides retries and reads answers, so these classes only do the I/O."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from . import _operations as ops
from . import models as m
from ._core import Call, Core, Paged, RetryPolicy
from ._operations import HoldCause
from .errors import ProblemError
from .follow import StreamMessage, afollow, follow
from .writer import MAX_BATCH, ActivityWriter, AsyncActivityWriter, step_kinds

T = TypeVar("T")
Item = TypeVar("Item")


class Client:
    """A client for one service and one principal's token.

    ``base_url`` and ``token`` default to ``PROCEDURE_EDGE_URL`` and
    ``PROCEDURE_EDGE_TOKEN``. Reads, appends and a registration with an
    idempotency key are retried on network failures, 429 (as long as
    ``Retry-After`` says) and 5xx; commands only on 429, which the service
    answers before acting. A refusal raises ``ProblemError``; no answer at all
    ``NetworkError``. ``transport`` and ``sleep`` are for tests.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._core = Core(base_url, token, retry, timeout)
        self._http = httpx.Client(**self._core.client_options(), transport=transport)
        self._sleep = sleep

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ---- sending ----

    def send(self, call: Call[T]) -> T:
        """Sends one operation with the retries it is allowed and answers its result."""
        options = self._core.request_options(call)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(call.method, call.path, **options)
            except httpx.TransportError as error:
                self._sleep(self._core.wait_after_error(call, attempt, error))
                continue
            if not response.is_success:
                wait = self._core.wait_after_answer(call, attempt, response, time.time())
                if wait is not None:
                    self._sleep(wait)
                    continue
            return self._core.result(call, response)

    def iterate(self, paged: Paged[Item]) -> Iterator[Item]:
        """Every item of a listing, page after page."""
        call: Call[dict[str, Any]] | None = paged.first
        while call is not None:
            items, call = paged.page(self.send(call), call)
            yield from items

    def request(self, method: str, route: str, **options: Any) -> Any:
        """Any route, answered as plain JSON (``query``, ``json``, ``headers``, ``retry``)."""
        return self.send(ops.request(method, route, **options))

    # ---- procedures ----

    def register(
        self, name: str, kind: str, target_asset_ids: Iterable[str], idempotency_key: str | None = None
    ) -> m.Procedure:
        return self.send(ops.register(name, kind, target_asset_ids, idempotency_key))

    def get(self, procedure_id: str) -> m.Procedure:
        return self.send(ops.get(procedure_id))

    def list(
        self, status: str | None = None, kind: str | None = None, target_asset_id: str | None = None
    ) -> Iterator[m.ProcedureSummary]:
        return self.iterate(ops.list_procedures(status, kind, target_asset_id))

    def manifest(self, procedure_id: str) -> m.Manifest:
        return self.send(ops.manifest(procedure_id))

    def resume_point(self, procedure_id: str) -> m.ResumePoint:
        return self.send(ops.resume_point(procedure_id))

    def events(self, procedure_id: str, after: int = 0) -> Iterator[m.ProcedureEvent]:
        return self.iterate(ops.events(procedure_id, after))

    def activities(self, procedure_id: str) -> Iterator[m.ActivityEntry]:
        """The logbook, newest first."""
        return self.iterate(ops.activities(procedure_id))

    def start(self, procedure_id: str) -> m.Procedure:
        return self.send(ops.start(procedure_id))

    def conduct(
        self,
        procedure_id: str,
        steps: Sequence[Any],
        closing_steps: Sequence[Any] | None = None,
        on_failure: Literal["abort", "hold"] | None = None,
        stale_after_seconds: int | None = None,
        **more: Any,
    ) -> m.ConductResult:
        """Resolves, pins and starts. A lifecycle refusal comes back in the result (``succeeded`` false)."""
        return self.send(ops.conduct(procedure_id, steps, closing_steps, on_failure, stale_after_seconds, **more))

    def hold(self, procedure_id: str, reason: str, cause: HoldCause = "operator") -> m.Procedure:
        return self.send(ops.hold(procedure_id, reason, cause))

    def resume(
        self, procedure_id: str, re_establishment_boundary: int = 0, cause: HoldCause = "operator"
    ) -> m.Procedure:
        return self.send(ops.resume(procedure_id, re_establishment_boundary, cause))

    def complete(self, procedure_id: str) -> m.Procedure:
        return self.send(ops.complete(procedure_id))

    def abort(self, procedure_id: str, reason: str) -> m.Procedure:
        return self.send(ops.abort(procedure_id, reason))

    def truncate(self, procedure_id: str, reason: str, interrupted_at: str | None = None) -> m.Procedure:
        return self.send(ops.truncate(procedure_id, reason, interrupted_at))

    def conduct_from(self, procedure_id: str, re_establishment_boundary: int) -> m.ReplayPlan:
        return self.send(ops.conduct_from(procedure_id, re_establishment_boundary))

    def go_ahead(self, procedure_id: str, step_index: int) -> m.Procedure:
        return self.send(ops.go_ahead(procedure_id, step_index))

    def append(self, procedure_id: str, entries: Sequence[Mapping[str, Any]]) -> m.AppendActivitiesResult:
        """Posts one batch as it is (1-500 entries with their own event ids)."""
        return self.send(ops.append(procedure_id, entries))

    def stream_ticket(self, procedure_id: str) -> m.StreamTicket:
        return self.send(ops.stream_ticket(procedure_id))

    def follow(self, procedure_id: str, after: str | None = None) -> Iterator[StreamMessage]:
        """The live stream: the current ``state``, then every event, ``activity`` batch and fresh ``state``.

        A dropped connection is reopened from the last id; the iterator ends once the procedure has ended.
        """
        return follow(self._http, self._core, procedure_id, after, self._sleep)

    def activity_writer(
        self,
        procedure_id: str,
        *,
        manifest: m.Manifest | Literal["read"] | None = "read",
        max_batch: int = MAX_BATCH,
        flush_after: float = 0.1,
    ) -> ActivityWriter:
        """A writer for the procedure's logbook (a context manager). Step reports need the pinned
        manifest: it is read unless given (a procedure without one gets a free-form writer)."""
        if manifest == "read":
            try:
                manifest = self.manifest(procedure_id)
            except ProblemError as error:
                if error.error_class != "ManifestNotFound":
                    raise
                manifest = None
        return ActivityWriter(
            lambda entries: self.append(procedure_id, entries),
            step_kinds(manifest),
            max_batch=max_batch,
            flush_after=flush_after,
        )

    # ---- pseudoaxes, decisions, the watcher ----

    def define_pseudoaxis(self, name: str, constituents: Sequence[Any]) -> m.Pseudoaxis:
        return self.send(ops.define_pseudoaxis(name, constituents))

    def pseudoaxis(self, name: str) -> m.Pseudoaxis:
        return self.send(ops.pseudoaxis(name))

    def decisions(
        self, context: str | None = None, choice: str | None = None, subject_id: str | None = None
    ) -> Iterator[m.Decision]:
        return self.iterate(ops.decisions(context, choice, subject_id))

    def decision(self, decision_id: str) -> m.Decision:
        return self.send(ops.decision(decision_id))

    def watcher(self) -> m.Watcher:
        return self.send(ops.watcher())

    # ---- notifications ----

    def create_subscription(
        self,
        url: str,
        event_types: Sequence[str],
        filter: Mapping[str, str] | None = None,
        format: Literal["standard", "slack"] | None = None,
        description: str | None = None,
    ) -> m.CreatedSubscription:
        return self.send(ops.create_subscription(url, event_types, filter, format, description))

    def subscriptions(self) -> Iterator[m.Subscription]:
        return self.iterate(ops.subscriptions())

    def subscription(self, subscription_id: str) -> m.Subscription:
        return self.send(ops.subscription(subscription_id))

    def delete_subscription(self, subscription_id: str) -> None:
        self.send(ops.delete_subscription(subscription_id))

    def test_subscription(self, subscription_id: str) -> m.TestSubscriptionResult:
        return self.send(ops.test_subscription(subscription_id))

    def deliveries(self, subscription_id: str) -> Iterator[m.Delivery]:
        return self.iterate(ops.deliveries(subscription_id))

    def all_deliveries(
        self, outcome: Literal["delivered", "retrying", "failed"] | None = None
    ) -> Iterator[m.DeliveryRecord]:
        """Every subscription's deliveries, newest first; ``outcome="failed"``: those that exhausted their attempts."""
        return self.iterate(ops.all_deliveries(outcome))

    def redeliver(self, delivery_id: str) -> m.RedeliverDeliveryResult:
        """Sends a delivery again, with its ``webhook-id``."""
        return self.send(ops.redeliver(delivery_id))

    # ---- actors, principals, audit ----

    def actor(self, actor_id: str) -> m.Actor:
        return self.send(ops.actor(actor_id))

    def activate_actor(self, actor_id: str) -> m.Actor:
        return self.send(ops.activate_actor(actor_id))

    def deactivate_actor(self, actor_id: str) -> m.Actor:
        return self.send(ops.deactivate_actor(actor_id))

    def create_principal(
        self,
        name: str,
        roles: Sequence[str],
        target_asset_ids: Sequence[str] | None = None,
        expires_at: str | None = None,
    ) -> m.CreatePrincipalResult:
        return self.send(ops.create_principal(name, roles, target_asset_ids, expires_at))

    def principals(self) -> Iterator[m.Principal]:
        return self.iterate(ops.principals())

    def principal(self, principal_id: str) -> m.Principal:
        return self.send(ops.principal(principal_id))

    def revoke_principal(self, principal_id: str, reason: str | None = None) -> m.Principal:
        return self.send(ops.revoke_principal(principal_id, reason))

    def rotate_principal(self, principal_id: str) -> m.RotatePrincipalResult:
        return self.send(ops.rotate_principal(principal_id))

    def audit(self, subject_id: str | None = None) -> Iterator[m.AuditEntry]:
        return self.iterate(ops.audit(subject_id))

    def me(self) -> m.Me:
        return self.send(ops.me())

    def health(self) -> Any:
        return self.send(ops.health())

    def openapi(self) -> dict[str, Any]:
        return self.send(ops.openapi())


class AsyncClient:
    """``Client`` for asyncio: the same methods, awaited; listings and ``follow`` are async iterators.
    Use it as ``async with AsyncClient(...) as edge``."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._core = Core(base_url, token, retry, timeout)
        self._http = httpx.AsyncClient(**self._core.client_options(), transport=transport)
        self._sleep = sleep

    @property
    def base_url(self) -> str:
        return self._core.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ---- sending ----

    async def send(self, call: Call[T]) -> T:
        options = self._core.request_options(call)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(call.method, call.path, **options)
            except httpx.TransportError as error:
                await self._sleep(self._core.wait_after_error(call, attempt, error))
                continue
            if not response.is_success:
                wait = self._core.wait_after_answer(call, attempt, response, time.time())
                if wait is not None:
                    await self._sleep(wait)
                    continue
            return self._core.result(call, response)

    async def iterate(self, paged: Paged[Item]) -> AsyncIterator[Item]:
        call: Call[dict[str, Any]] | None = paged.first
        while call is not None:
            items, call = paged.page(await self.send(call), call)
            for item in items:
                yield item

    async def request(self, method: str, route: str, **options: Any) -> Any:
        return await self.send(ops.request(method, route, **options))

    # ---- procedures ----

    async def register(
        self, name: str, kind: str, target_asset_ids: Iterable[str], idempotency_key: str | None = None
    ) -> m.Procedure:
        return await self.send(ops.register(name, kind, target_asset_ids, idempotency_key))

    async def get(self, procedure_id: str) -> m.Procedure:
        return await self.send(ops.get(procedure_id))

    def list(
        self, status: str | None = None, kind: str | None = None, target_asset_id: str | None = None
    ) -> AsyncIterator[m.ProcedureSummary]:
        return self.iterate(ops.list_procedures(status, kind, target_asset_id))

    async def manifest(self, procedure_id: str) -> m.Manifest:
        return await self.send(ops.manifest(procedure_id))

    async def resume_point(self, procedure_id: str) -> m.ResumePoint:
        return await self.send(ops.resume_point(procedure_id))

    def events(self, procedure_id: str, after: int = 0) -> AsyncIterator[m.ProcedureEvent]:
        return self.iterate(ops.events(procedure_id, after))

    def activities(self, procedure_id: str) -> AsyncIterator[m.ActivityEntry]:
        return self.iterate(ops.activities(procedure_id))

    async def start(self, procedure_id: str) -> m.Procedure:
        return await self.send(ops.start(procedure_id))

    async def conduct(
        self,
        procedure_id: str,
        steps: Sequence[Any],
        closing_steps: Sequence[Any] | None = None,
        on_failure: Literal["abort", "hold"] | None = None,
        stale_after_seconds: int | None = None,
        **more: Any,
    ) -> m.ConductResult:
        return await self.send(ops.conduct(procedure_id, steps, closing_steps, on_failure, stale_after_seconds, **more))

    async def hold(self, procedure_id: str, reason: str, cause: HoldCause = "operator") -> m.Procedure:
        return await self.send(ops.hold(procedure_id, reason, cause))

    async def resume(
        self, procedure_id: str, re_establishment_boundary: int = 0, cause: HoldCause = "operator"
    ) -> m.Procedure:
        return await self.send(ops.resume(procedure_id, re_establishment_boundary, cause))

    async def complete(self, procedure_id: str) -> m.Procedure:
        return await self.send(ops.complete(procedure_id))

    async def abort(self, procedure_id: str, reason: str) -> m.Procedure:
        return await self.send(ops.abort(procedure_id, reason))

    async def truncate(self, procedure_id: str, reason: str, interrupted_at: str | None = None) -> m.Procedure:
        return await self.send(ops.truncate(procedure_id, reason, interrupted_at))

    async def conduct_from(self, procedure_id: str, re_establishment_boundary: int) -> m.ReplayPlan:
        return await self.send(ops.conduct_from(procedure_id, re_establishment_boundary))

    async def go_ahead(self, procedure_id: str, step_index: int) -> m.Procedure:
        return await self.send(ops.go_ahead(procedure_id, step_index))

    async def append(self, procedure_id: str, entries: Sequence[Mapping[str, Any]]) -> m.AppendActivitiesResult:
        return await self.send(ops.append(procedure_id, entries))

    async def stream_ticket(self, procedure_id: str) -> m.StreamTicket:
        return await self.send(ops.stream_ticket(procedure_id))

    def follow(self, procedure_id: str, after: str | None = None) -> AsyncIterator[StreamMessage]:
        return afollow(self._http, self._core, procedure_id, after, self._sleep)

    async def activity_writer(
        self,
        procedure_id: str,
        *,
        manifest: m.Manifest | Literal["read"] | None = "read",
        max_batch: int = MAX_BATCH,
        flush_after: float = 0.1,
    ) -> AsyncActivityWriter:
        """``async with await edge.activity_writer(id) as writer: ...``"""
        if manifest == "read":
            try:
                manifest = await self.manifest(procedure_id)
            except ProblemError as error:
                if error.error_class != "ManifestNotFound":
                    raise
                manifest = None
        return AsyncActivityWriter(
            lambda entries: self.append(procedure_id, entries),
            step_kinds(manifest),
            max_batch=max_batch,
            flush_after=flush_after,
        )

    # ---- pseudoaxes, decisions, the watcher ----

    async def define_pseudoaxis(self, name: str, constituents: Sequence[Any]) -> m.Pseudoaxis:
        return await self.send(ops.define_pseudoaxis(name, constituents))

    async def pseudoaxis(self, name: str) -> m.Pseudoaxis:
        return await self.send(ops.pseudoaxis(name))

    def decisions(
        self, context: str | None = None, choice: str | None = None, subject_id: str | None = None
    ) -> AsyncIterator[m.Decision]:
        return self.iterate(ops.decisions(context, choice, subject_id))

    async def decision(self, decision_id: str) -> m.Decision:
        return await self.send(ops.decision(decision_id))

    async def watcher(self) -> m.Watcher:
        return await self.send(ops.watcher())

    # ---- notifications ----

    async def create_subscription(
        self,
        url: str,
        event_types: Sequence[str],
        filter: Mapping[str, str] | None = None,
        format: Literal["standard", "slack"] | None = None,
        description: str | None = None,
    ) -> m.CreatedSubscription:
        return await self.send(ops.create_subscription(url, event_types, filter, format, description))

    def subscriptions(self) -> AsyncIterator[m.Subscription]:
        return self.iterate(ops.subscriptions())

    async def subscription(self, subscription_id: str) -> m.Subscription:
        return await self.send(ops.subscription(subscription_id))

    async def delete_subscription(self, subscription_id: str) -> None:
        await self.send(ops.delete_subscription(subscription_id))

    async def test_subscription(self, subscription_id: str) -> m.TestSubscriptionResult:
        return await self.send(ops.test_subscription(subscription_id))

    def deliveries(self, subscription_id: str) -> AsyncIterator[m.Delivery]:
        return self.iterate(ops.deliveries(subscription_id))

    def all_deliveries(
        self, outcome: Literal["delivered", "retrying", "failed"] | None = None
    ) -> AsyncIterator[m.DeliveryRecord]:
        return self.iterate(ops.all_deliveries(outcome))

    async def redeliver(self, delivery_id: str) -> m.RedeliverDeliveryResult:
        return await self.send(ops.redeliver(delivery_id))

    # ---- actors, principals, audit ----

    async def actor(self, actor_id: str) -> m.Actor:
        return await self.send(ops.actor(actor_id))

    async def activate_actor(self, actor_id: str) -> m.Actor:
        return await self.send(ops.activate_actor(actor_id))

    async def deactivate_actor(self, actor_id: str) -> m.Actor:
        return await self.send(ops.deactivate_actor(actor_id))

    async def create_principal(
        self,
        name: str,
        roles: Sequence[str],
        target_asset_ids: Sequence[str] | None = None,
        expires_at: str | None = None,
    ) -> m.CreatePrincipalResult:
        return await self.send(ops.create_principal(name, roles, target_asset_ids, expires_at))

    def principals(self) -> AsyncIterator[m.Principal]:
        return self.iterate(ops.principals())

    async def principal(self, principal_id: str) -> m.Principal:
        return await self.send(ops.principal(principal_id))

    async def revoke_principal(self, principal_id: str, reason: str | None = None) -> m.Principal:
        return await self.send(ops.revoke_principal(principal_id, reason))

    async def rotate_principal(self, principal_id: str) -> m.RotatePrincipalResult:
        return await self.send(ops.rotate_principal(principal_id))

    def audit(self, subject_id: str | None = None) -> AsyncIterator[m.AuditEntry]:
        return self.iterate(ops.audit(subject_id))

    async def me(self) -> m.Me:
        return await self.send(ops.me())

    async def health(self) -> Any:
        return await self.send(ops.health())

    async def openapi(self) -> dict[str, Any]:
        return await self.send(ops.openapi())
