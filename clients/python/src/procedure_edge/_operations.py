"""Every operation of the document as a Call (or a Paged listing): the one
place a route's path, body, retry mode and answer model are written down. The
sync and async clients both send these."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from . import models as m
from ._core import Call, Paged, drop_none, identity, path

M = TypeVar("M", bound=BaseModel)

HoldCause = Literal["operator", "step-fault", "driver-stand-down"]


def model(cls: type[M]) -> Callable[[Any], M]:
    return cls.model_validate


def _none(_: Any) -> None:
    return None


def _dump(value: Any) -> Any:
    """A request body part as JSON: a model (generated or the caller's) or plain data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, Mapping):
        return {key: _dump(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(item) for item in value]
    return value


def _procedure(template: str, procedure_id: str) -> str:
    return path(template, id=str(procedure_id))


# ---- procedures ---------------------------------------------------------------


def register(
    name: str, kind: str, target_asset_ids: Iterable[str], idempotency_key: str | None = None
) -> Call[m.Procedure]:
    # With an idempotency key a retry answers the same procedure, so it is retried like a read.
    return Call(
        "POST",
        "/v1/procedures",
        model(m.Procedure),
        json={"name": name, "kind": kind, "target_asset_ids": list(target_asset_ids)},
        headers={} if idempotency_key is None else {"idempotency-key": idempotency_key},
        retry="safe" if idempotency_key is not None else None,
    )


def list_procedures(
    status: str | None = None,
    kind: str | None = None,
    target_asset_id: str | None = None,
    page_size: int = 100,
) -> Paged[m.ProcedureSummary]:
    query = drop_none({"status": status, "kind": kind, "target_asset_id": target_asset_id, "limit": page_size})
    return Paged(Call("GET", "/v1/procedures", identity, query=query), model(m.ProcedureSummary))


def get(procedure_id: str) -> Call[m.Procedure]:
    return Call("GET", _procedure("/v1/procedures/{id}", procedure_id), model(m.Procedure))


def manifest(procedure_id: str) -> Call[m.Manifest]:
    return Call("GET", _procedure("/v1/procedures/{id}/manifest", procedure_id), model(m.Manifest))


def resume_point(procedure_id: str) -> Call[m.ResumePoint]:
    return Call("GET", _procedure("/v1/procedures/{id}/resume-point", procedure_id), model(m.ResumePoint))


def events(procedure_id: str, after: int = 0, page_size: int = 100) -> Paged[m.ProcedureEvent]:
    call = Call(
        "GET",
        _procedure("/v1/procedures/{id}/events", procedure_id),
        identity,
        query={"after": after, "limit": page_size},
    )
    return Paged(call, model(m.ProcedureEvent), by="version")


def activities(procedure_id: str, page_size: int = 100) -> Paged[m.ActivityEntry]:
    call = Call("GET", _procedure("/v1/procedures/{id}/activities", procedure_id), identity, query={"limit": page_size})
    return Paged(call, model(m.ActivityEntry))


def _command(procedure_id: str, verb: str, body: Any = None) -> Call[m.Procedure]:
    return Call("POST", _procedure("/v1/procedures/{id}/" + verb, procedure_id), model(m.Procedure), json=body)


def start(procedure_id: str) -> Call[m.Procedure]:
    return _command(procedure_id, "start")


def conduct(
    procedure_id: str,
    steps: Sequence[Any],
    closing_steps: Sequence[Any] | None = None,
    on_failure: Literal["abort", "hold"] | None = None,
    stale_after_seconds: int | None = None,
    **more: Any,
) -> Call[m.ConductResult]:
    body = drop_none(
        {
            "steps": _dump(list(steps)),
            "closing_steps": None if closing_steps is None else _dump(list(closing_steps)),
            "on_failure": on_failure,
            "stale_after_seconds": stale_after_seconds,
            **{key: _dump(value) for key, value in more.items()},
        }
    )
    return Call("POST", _procedure("/v1/procedures/{id}/conduct", procedure_id), model(m.ConductResult), json=body)


def hold(procedure_id: str, reason: str, cause: HoldCause = "operator") -> Call[m.Procedure]:
    return _command(procedure_id, "hold", {"reason": reason, "cause": cause})


def resume(procedure_id: str, re_establishment_boundary: int, cause: HoldCause = "operator") -> Call[m.Procedure]:
    return _command(procedure_id, "resume", {"re_establishment_boundary": re_establishment_boundary, "cause": cause})


def complete(procedure_id: str) -> Call[m.Procedure]:
    return _command(procedure_id, "complete")


def abort(procedure_id: str, reason: str) -> Call[m.Procedure]:
    return _command(procedure_id, "abort", {"reason": reason})


def truncate(procedure_id: str, reason: str, interrupted_at: str | None = None) -> Call[m.Procedure]:
    return _command(procedure_id, "truncate", drop_none({"reason": reason, "interrupted_at": interrupted_at}))


def conduct_from(procedure_id: str, re_establishment_boundary: int) -> Call[m.ReplayPlan]:
    body = {"re_establishment_boundary": re_establishment_boundary}
    return Call("POST", _procedure("/v1/procedures/{id}/conduct-from", procedure_id), model(m.ReplayPlan), json=body)


def go_ahead(procedure_id: str, step_index: int) -> Call[m.Procedure]:
    return _command(procedure_id, "go-ahead", {"step_index": step_index})


def append(procedure_id: str, entries: Sequence[Mapping[str, Any]]) -> Call[m.AppendActivitiesResult]:
    # Entries are deduplicated on their event ids, so an append is retried like a read.
    return Call(
        "POST",
        _procedure("/v1/procedures/{id}/activities", procedure_id),
        model(m.AppendActivitiesResult),
        json={"entries": list(entries)},
        retry="safe",
    )


def stream_ticket(procedure_id: str) -> Call[m.StreamTicket]:
    return Call("POST", _procedure("/v1/procedures/{id}/stream-ticket", procedure_id), model(m.StreamTicket))


# ---- pseudoaxes, decisions, the watcher ---------------------------------------


def define_pseudoaxis(name: str, constituents: Sequence[Any]) -> Call[m.Pseudoaxis]:
    return Call(
        "PUT",
        path("/v1/pseudoaxes/{name}", name=name),
        model(m.Pseudoaxis),
        json={"constituents": _dump(list(constituents))},
    )


def pseudoaxis(name: str) -> Call[m.Pseudoaxis]:
    return Call("GET", path("/v1/pseudoaxes/{name}", name=name), model(m.Pseudoaxis))


def decisions(
    context: str | None = None, choice: str | None = None, subject_id: str | None = None, page_size: int = 100
) -> Paged[m.Decision]:
    query = drop_none({"context": context, "choice": choice, "subject_id": subject_id, "limit": page_size})
    return Paged(Call("GET", "/v1/decisions", identity, query=query), model(m.Decision))


def decision(decision_id: str) -> Call[m.Decision]:
    return Call("GET", path("/v1/decisions/{id}", id=decision_id), model(m.Decision))


def watcher() -> Call[m.Watcher]:
    return Call("GET", "/v1/watcher", model(m.Watcher))


# ---- notifications ------------------------------------------------------------


def create_subscription(
    url: str,
    event_types: Sequence[str],
    filter: Mapping[str, str] | None = None,
    format: Literal["standard", "slack"] | None = None,
    description: str | None = None,
) -> Call[m.CreatedSubscription]:
    body = drop_none(
        {"url": url, "event_types": list(event_types), "filter": filter, "format": format, "description": description}
    )
    return Call("POST", "/v1/subscriptions", model(m.CreatedSubscription), json=body)


def subscriptions(page_size: int = 100) -> Paged[m.Subscription]:
    return Paged(Call("GET", "/v1/subscriptions", identity, query={"limit": page_size}), model(m.Subscription))


def subscription(subscription_id: str) -> Call[m.Subscription]:
    return Call("GET", path("/v1/subscriptions/{id}", id=subscription_id), model(m.Subscription))


def delete_subscription(subscription_id: str) -> Call[None]:
    return Call("DELETE", path("/v1/subscriptions/{id}", id=subscription_id), _none)


def test_subscription(subscription_id: str) -> Call[m.TestSubscriptionResult]:
    return Call("POST", path("/v1/subscriptions/{id}/test", id=subscription_id), model(m.TestSubscriptionResult))


def deliveries(subscription_id: str, page_size: int = 100) -> Paged[m.Delivery]:
    call = Call(
        "GET", path("/v1/subscriptions/{id}/deliveries", id=subscription_id), identity, query={"limit": page_size}
    )
    return Paged(call, model(m.Delivery))


def all_deliveries(
    outcome: Literal["delivered", "retrying", "failed"] | None = None, page_size: int = 100
) -> Paged[m.DeliveryRecord]:
    query = drop_none({"outcome": outcome, "limit": page_size})
    return Paged(Call("GET", "/v1/deliveries", identity, query=query), model(m.DeliveryRecord))


def redeliver(delivery_id: str) -> Call[m.RedeliverDeliveryResult]:
    return Call("POST", path("/v1/deliveries/{id}/redeliver", id=delivery_id), model(m.RedeliverDeliveryResult))


# ---- actors, principals, audit ------------------------------------------------


def actor(actor_id: str) -> Call[m.Actor]:
    return Call("GET", path("/v1/actors/{id}", id=actor_id), model(m.Actor))


def activate_actor(actor_id: str) -> Call[m.Actor]:
    return Call("POST", path("/v1/actors/{id}/activate", id=actor_id), model(m.Actor))


def deactivate_actor(actor_id: str) -> Call[m.Actor]:
    return Call("POST", path("/v1/actors/{id}/deactivate", id=actor_id), model(m.Actor))


def create_principal(
    name: str,
    roles: Sequence[str],
    target_asset_ids: Sequence[str] | None = None,
    expires_at: str | None = None,
) -> Call[m.CreatePrincipalResult]:
    scopes = None if target_asset_ids is None else {"target_asset_ids": list(target_asset_ids)}
    body = drop_none({"name": name, "roles": list(roles), "scopes": scopes, "expires_at": expires_at})
    return Call("POST", "/v1/principals", model(m.CreatePrincipalResult), json=body)


def principals(page_size: int = 100) -> Paged[m.Principal]:
    return Paged(Call("GET", "/v1/principals", identity, query={"limit": page_size}), model(m.Principal))


def principal(principal_id: str) -> Call[m.Principal]:
    return Call("GET", path("/v1/principals/{id}", id=principal_id), model(m.Principal))


def revoke_principal(principal_id: str, reason: str | None = None) -> Call[m.Principal]:
    body = drop_none({"reason": reason})
    return Call("POST", path("/v1/principals/{id}/revoke", id=principal_id), model(m.Principal), json=body)


def rotate_principal(principal_id: str) -> Call[m.RotatePrincipalResult]:
    return Call("POST", path("/v1/principals/{id}/rotate", id=principal_id), model(m.RotatePrincipalResult))


def audit(subject_id: str | None = None, page_size: int = 100) -> Paged[m.AuditEntry]:
    query = drop_none({"subject_id": subject_id, "limit": page_size})
    return Paged(Call("GET", "/v1/audit", identity, query=query), model(m.AuditEntry))


def me() -> Call[m.Me]:
    return Call("GET", "/v1/me", model(m.Me))


def health() -> Call[Any]:
    return Call("GET", "/healthz", identity)


def openapi() -> Call[dict[str, Any]]:
    return Call("GET", "/openapi.json", identity)


def request(
    method: str,
    route: str,
    *,
    query: Mapping[str, Any] | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    retry: Literal["safe", "unprocessed"] | None = None,
) -> Call[Any]:
    """Any route, answered as plain JSON: for routes this client has no method for yet."""
    return Call(method.upper(), route, identity, query=query, json=json, headers=dict(headers or {}), retry=retry)
