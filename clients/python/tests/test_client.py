"""The client's calls against the running service: results as models, listings
across pages, refusals as ProblemError with nothing written."""

from __future__ import annotations

import uuid

import pytest
from conftest import STEPS, eventually, registered, unique
from local_service import LocalService

from procedure_edge import Client, ProblemError, models
from procedure_edge import _operations as ops


def test_register_read_and_list_across_pages(admin: Client) -> None:
    kind = unique("kind")
    made = [registered(admin, kind) for _ in range(5)]
    assert isinstance(made[0], models.Procedure)
    assert made[0].status == "Defined"
    assert admin.get(str(made[0].procedure_id)) == made[0]

    # Two per page: the iterator follows next_cursor through three pages.
    # The list is a projection, which trails the procedures' own state by about half a second.
    def all_listed() -> list[models.ProcedureSummary]:
        listed = list(admin.iterate(ops.list_procedures(kind=kind, page_size=2)))
        assert sorted(str(p.procedure_id) for p in listed) == sorted(str(p.procedure_id) for p in made)
        return listed

    listed = eventually(all_listed)
    assert [p.procedure_id for p in admin.list(kind=kind)] == [p.procedure_id for p in listed]


def test_a_registration_with_an_idempotency_key_answers_the_same_procedure(admin: Client) -> None:
    key = str(uuid.uuid4())
    first = admin.register("oven bake", "bake", ["oven-1"], idempotency_key=key)
    again = admin.register("oven bake", "bake", ["oven-1"], idempotency_key=key)
    assert again.procedure_id == first.procedure_id


def test_an_operator_driven_lifecycle_and_its_event_log(admin: Client) -> None:
    procedure = registered(admin)
    pid = str(procedure.procedure_id)
    assert admin.start(pid).status == "Running"
    held = admin.hold(pid, "inspect the oven")
    assert held.status == "Held"
    assert [claim.cause for claim in held.hold_claims] == ["operator"]
    assert admin.resume(pid, 0).status == "Running"
    done = admin.complete(pid)
    assert done.status == "Completed"

    types = [event.type for event in admin.events(pid)]
    assert types == [
        "ProcedureRegistered",
        "ProcedureStarted",
        "ProcedureHeld",
        "ProcedureResumed",
        "ProcedureCompleted",
    ]
    # Pages of one event each: the iterator asks for the next after the last version.
    paged = [event.version for event in admin.iterate(ops.events(pid, page_size=1))]
    assert paged == list(range(1, done.version + 1))


def test_a_refusal_is_a_problem_error_and_writes_nothing(admin: Client) -> None:
    procedure = registered(admin)
    pid = str(procedure.procedure_id)
    with pytest.raises(ProblemError) as refused:
        admin.hold(pid, "not running yet")
    assert refused.value.status == 409
    assert refused.value.error_class == "ProcedureCannotHold"
    assert refused.value.detail
    assert admin.get(pid).version == procedure.version


def test_a_validation_failure_names_the_fields(admin: Client) -> None:
    with pytest.raises(ProblemError) as refused:
        admin.register("", "bake", ["oven-1"])
    assert refused.value.status == 400
    assert refused.value.error_class == "ValidationFailed"
    assert any("name" in str(error.get("path")) for error in refused.value.errors)


def test_unknown_tokens_and_missing_grants(service: LocalService, as_role: dict[str, Client]) -> None:
    with Client(service.base_url, "not-a-token") as stranger, pytest.raises(ProblemError) as unknown:
        stranger.me()
    assert (unknown.value.status, unknown.value.error_class) == (401, "Unauthenticated")

    with pytest.raises(ProblemError) as forbidden:
        as_role["reader"].register("oven bake", "bake", ["oven-1"])
    assert (forbidden.value.status, forbidden.value.error_class) == (403, "Forbidden")
    assert as_role["reader"].me().roles == ["reader"]


def test_base_url_and_token_from_the_environment(service: LocalService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCEDURE_EDGE_URL", service.base_url)
    monkeypatch.setenv("PROCEDURE_EDGE_TOKEN", service.token)
    with Client() as client:
        assert "admin" in client.me().roles
    monkeypatch.delenv("PROCEDURE_EDGE_TOKEN")
    with pytest.raises(ValueError, match="PROCEDURE_EDGE_TOKEN"):
        Client()


def test_conduct_report_in_order_and_complete(admin: Client, as_role: dict[str, Client]) -> None:
    procedure = registered(admin)
    pid = str(procedure.procedure_id)
    result = admin.conduct(pid, STEPS, on_failure="hold")
    assert (result.succeeded, result.step_count) == (True, 3)
    assert admin.manifest(pid).step_count == 3

    with as_role["gateway"].activity_writer(pid) as writer:
        writer.in_flight(0)
        writer.ok(0, readback=120.0)
        writer.in_flight(1)
        writer.ok(1)
        writer.ok(2, value=120.2)
    # The last step's ok completes a conducted procedure.
    state = admin.get(pid)
    assert (state.status, state.completed_count, state.in_flight_step_index) == ("Completed", 3, None)
    newest = next(admin.activities(pid))
    assert newest.payload == {"step_index": 2, "result": "ok", "value": 120.2}


def test_a_failed_step_holds_and_conduct_from_replays_with_a_go_ahead(
    admin: Client, as_role: dict[str, Client]
) -> None:
    pid = str(registered(admin).procedure_id)
    admin.conduct(pid, STEPS, on_failure="hold")
    gateway = as_role["gateway"]
    with gateway.activity_writer(pid) as writer:
        writer.in_flight(0)
        writer.ok(0)
        writer.in_flight(1)
        writer.ok(1)
        writer.failed(2, "OutOfTolerance", "zone.a reads 117.2").result()
    # A failed check holds (on_failure "hold"); the operator resumes from the action before it.
    held = admin.get(pid)
    assert held.status == "Held"
    assert [claim.cause for claim in held.hold_claims] == ["step-fault"]

    plan = admin.conduct_from(pid, 1)
    assert [(item.step_index, item.requires_operator) for item in plan.replay] == [(1, True), (2, False)]
    assert admin.get(pid).replay_awaiting_operator == [1]
    assert admin.go_ahead(pid, 1).replay_awaiting_operator == []
    with gateway.activity_writer(pid) as writer:
        writer.in_flight(1)
        writer.ok(1)
        writer.ok(2)
    assert admin.get(pid).status == "Completed"


def test_truncate_and_abort(admin: Client) -> None:
    first = str(registered(admin).procedure_id)
    admin.start(first)
    assert admin.abort(first, "sample dropped").last_status_reason == "sample dropped"
    second = str(registered(admin).procedure_id)
    admin.start(second)
    assert admin.truncate(second, "power cut").status == "Truncated"


def test_principals_pseudoaxes_and_any_route(admin: Client) -> None:
    created = admin.create_principal(unique("bench"), ["reader"], target_asset_ids=["oven-1"])
    principal_id = str(created.principal_id)
    principal = admin.principal(principal_id)
    assert principal.scopes is not None
    assert principal.roles == ["reader"]
    assert principal_id in [str(p.principal_id) for p in admin.principals()]
    rotated = admin.rotate_principal(principal_id)
    assert rotated.token != created.token
    assert admin.revoke_principal(principal_id, "left the lab").revoked_at is not None
    assert any(str(entry.subject_id) == principal_id for entry in admin.audit(subject_id=principal_id))

    name = unique("axis")
    constituents = [{"address": "stage.x", "scale": 1, "offset": 0}, {"address": "stage.y", "scale": -1, "offset": 2}]
    admin.define_pseudoaxis(name, constituents)
    assert [c.address for c in admin.pseudoaxis(name).constituents] == ["stage.x", "stage.y"]

    assert admin.request("GET", "/v1/me")["roles"] == ["admin"]
    assert admin.watcher() is not None


def test_decisions_stream_tickets_and_refused_reads(admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    assert list(admin.decisions(subject_id=pid)) == []
    ticket = admin.stream_ticket(pid)
    assert ticket.model_dump()  # a single-use ticket for a browser's EventSource
    with pytest.raises(ProblemError) as missing:
        admin.manifest(pid)
    assert (missing.value.status, missing.value.error_class) == (404, "ManifestNotFound")
    with pytest.raises(ProblemError) as unknown:
        admin.get(str(uuid.uuid4()))
    assert (unknown.value.status, unknown.value.error_class) == (404, "ProcedureNotFound")
