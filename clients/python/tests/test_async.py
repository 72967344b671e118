"""AsyncClient: the same calls awaited, listings and follow() as async
iterators, and the async activity writer; run with asyncio.run (no plugin)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import STEPS, unique
from local_service import LocalService

from procedure_edge import AsyncClient, ProblemError, StreamMessage


def test_an_async_gateway_reports_a_conducted_procedure(service: LocalService) -> None:
    async def scenario() -> None:
        async with AsyncClient(service.base_url, service.token) as edge:
            procedure = await edge.register(unique("async"), "pytest", [unique("asset")])
            pid = str(procedure.procedure_id)
            with pytest.raises(ProblemError) as refused:
                await edge.complete(pid)
            assert refused.value.error_class == "ProcedureCannotComplete"

            result = await edge.conduct(pid, STEPS)
            assert result.succeeded
            seen: list[StreamMessage] = []

            async def watch() -> None:
                async for message in edge.follow(pid):
                    seen.append(message)

            watcher = asyncio.create_task(watch())
            async with await edge.activity_writer(pid) as writer:
                await writer.in_flight(0)
                writer.ok(0, readback=120.0)
                await writer.in_flight(1)
                writer.ok(1)
                writer.ok(2)
            await asyncio.wait_for(watcher, 30)

            state = await edge.get(pid)
            assert (state.status, state.completed_count) == ("Completed", 3)
            logbook = [entry async for entry in edge.activities(pid)]
            assert len(logbook) == 5
            assert seen[-1].data["status"] == "Completed"
            assert [m.event for m in seen].count("activity") >= 1
            types = [event.type async for event in edge.events(pid)]
            assert types[-1] == "ProcedureCompleted"

    asyncio.run(scenario())


def test_an_async_writer_refusal_stops_what_follows(service: LocalService) -> None:
    async def scenario() -> None:
        async with AsyncClient(service.base_url, service.token) as edge:
            pid = str((await edge.register(unique("async"), "pytest", [unique("asset")])).procedure_id)
            await edge.conduct(pid, STEPS)
            writer = await edge.activity_writer(pid)
            bad = writer.append("check", {"step_index": 0, "result": "ok"})
            later = writer.ok(0)
            with pytest.raises(ProblemError):
                await writer.flush()
            assert isinstance(bad.exception(), ProblemError)
            assert isinstance(later.exception(), ProblemError)
            writer.reset()
            await writer.in_flight(0)
            await writer.aclose()
            assert [entry.payload["result"] async for entry in edge.activities(pid)] == ["in_flight"]

    asyncio.run(scenario())
