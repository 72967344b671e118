// Smaller rules a production service keeps: what a client's correlation id may
// hold before it is stored, and an activity event id that names one entry.
import { describe, expect, it } from "vitest";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { call, expectProblem, registerProcedure } from "../helpers";

async function lastEvent(id: string) {
  return (await call(`/v1/procedures/${id}/events?limit=100`)).json.items.at(-1) as { type: string; correlation_id: string };
}

describe("a client's correlation id", () => {
  it("is stored and echoed when short and plain", async () => {
    const id = await registerProcedure();
    const mine = `run-42.step:7_${crypto.randomUUID()}`;
    const started = await call(`/v1/procedures/${id}/start`, { method: "POST", headers: { "x-correlation-id": mine } });
    expect(started.headers.get("x-correlation-id")).toBe(mine);
    expect(await lastEvent(id)).toMatchObject({ type: "ProcedureStarted", correlation_id: mine });
  });

  it("is replaced by the service's own when too long or holding other characters, so nothing odd is stored", async () => {
    for (const offered of ["x".repeat(129), "<script>alert(1)</script>", "two words", "tab\there", "semi;colon,comma"]) {
      const id = await registerProcedure();
      const started = await call(`/v1/procedures/${id}/start`, { method: "POST", headers: { "x-correlation-id": offered } });
      const echoed = started.headers.get("x-correlation-id")!;
      expect(echoed, offered).not.toBe(offered);
      expect(echoed).toMatch(/^[0-9a-f-]{36}$/);
      expect((await lastEvent(id)).correlation_id).toBe(echoed);
    }
  });
});

describe("an activity event id names one entry", () => {
  async function running() {
    const id = await registerProcedure();
    expect((await conduct(id, { steps: [STEPS.setpoint, STEPS.action], on_failure: "hold" })).json.succeeded).toBe(true);
    return id;
  }

  it("counts an exact repeat as a duplicate, whatever the key order of its payload", async () => {
    const id = await running();
    const first = entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" });
    expect((await post(id, [first])).json).toEqual({ event_count: 1, duplicate_count: 0 });
    const reordered = { ...first, payload: { result: "in_flight", step_index: 0 } };
    expect((await post(id, [reordered])).json).toEqual({ event_count: 0, duplicate_count: 1 });
  });

  it("refuses a batch that repeats a recorded event id with a different payload (422), and writes nothing", async () => {
    const id = await running();
    const first = entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" });
    await post(id, [first]);
    const before = (await call(`/v1/procedures/${id}/activities?limit=100`)).json.items;
    const changed = { ...first, payload: { step_index: 0, result: "ok" } };
    const fresh = entry({ step_kind: "action", step_index: 1, result: "ok" });
    const refused = await post(id, [changed, fresh]);
    expectProblem(refused, 422, "ActivityEventIdReused");
    expect(refused.json.detail).toContain(first.event_id);
    expect((await call(`/v1/procedures/${id}/activities?limit=100`)).json.items).toEqual(before);
    expectProblem(await post(id, [{ ...first, sampled_at: new Date(Date.now() + 1000).toISOString() }]), 422, "ActivityEventIdReused");
    expectProblem(await post(id, [{ ...first, step_kind: "check" }]), 422, "ActivityEventIdReused");
  });

  it("refuses a batch that repeats an event id within itself with a different payload", async () => {
    const id = await running();
    const one = entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" });
    const refused = await post(id, [one, { ...one, payload: { step_index: 0, result: "ok" } }]);
    expectProblem(refused, 422, "ActivityEventIdReused");
    expect((await call(`/v1/procedures/${id}/activities`)).json.items).toEqual([]);
    expect((await post(id, [one, one])).json).toEqual({ event_count: 1, duplicate_count: 1 });
  });
});
