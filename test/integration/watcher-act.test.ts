// The watcher's act rung: a procedure conducted with `on_stall: "hold"` is
// held (cause `stall`) by the watcher's agent when its Stall is recorded, with
// the same gates as flagging; the state names the open Stall decision. Time is
// injected: each tick gets its `now`, so nothing sleeps.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { holdClaimId } from "../../src/procedure/decide";
import { decisionId, WATCHER_AGENT } from "../../src/watcher/stall";
import type { TickDeps } from "../../src/watcher/sweep";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { CONFIG, seededAgent, tick } from "../watcher-helpers";
import { call, command, eventLog, expectProblem, procedureStub, registerProcedure, settled } from "../helpers";

const HOUR = 3_600_000;

const registered: string[] = [];

/** A procedure conducted with `on_stall` (two setpoints), and when it started. */
async function conducted(onStall?: "flag" | "hold") {
  const id = await registerProcedure();
  registered.push(id);
  const result = await conduct(id, { steps: [STEPS.setpoint, STEPS.setpoint], ...(onStall ? { on_stall: onStall } : {}) });
  expect(result.json).toMatchObject({ succeeded: true });
  const state = (await call(`/v1/procedures/${id}`)).json;
  return { id, startedAt: Date.parse(state.last_status_changed_at), state };
}

async function decisionsFor(id: string) {
  const result = await call(`/v1/decisions?subject_id=${id}`);
  expect(result.status).toBe(200);
  return result.json.items as Array<Record<string, any>>;
}

const stateOf = async (id: string) => (await call(`/v1/procedures/${id}`)).json;

beforeEach(seededAgent);

// Every test's procedures leave conduct, so the next test's ticks see only its own.
afterEach(async () => {
  vi.restoreAllMocks();
  for (const id of registered.splice(0)) {
    const { status } = await stateOf(id);
    if (status === "Running" || status === "Held") expect((await command(id, "abort", { reason: "test over" })).status).toBe(200);
  }
});

describe("on_stall: hold", () => {
  it("holds a stalled Running procedure as the watcher's agent, once, and says so in the decision", async () => {
    const { id, startedAt, state } = await conducted("hold");
    expect(state).toMatchObject({ on_stall: "hold", open_stall_decision_id: null });
    expect(await tick(startedAt + HOUR - 1)).toMatchObject({ flagged: 0 });
    expect(await tick(startedAt + HOUR)).toMatchObject({ flagged: 1, acted: 1 });

    const lastProgressAt = new Date(startedAt).toISOString();
    const [decision, ...more] = await decisionsFor(id);
    expect(more).toEqual([]);
    expect(decision).toMatchObject({ id: decisionId(id, lastProgressAt), choice: "Stall", inputs: { status: "Running", acted: "hold" } });

    const held = await stateOf(id);
    expect(held).toMatchObject({
      status: "Held",
      hold_claims: [{ cause: "stall", claim_id: holdClaimId(id, "stall") }],
      open_stall_decision_id: decision!.id,
    });
    expect(held.last_status_reason).toContain(decision!.id);
    // Through the command path: one ProcedureHeld, recorded as the agent's, correlated with the decision.
    const holds = (await eventLog(id)).filter((e) => e.type === "ProcedureHeld");
    expect(holds).toEqual([
      expect.objectContaining({ principal_id: WATCHER_AGENT.id, correlation_id: decision!.id, payload: expect.objectContaining({ cause: "stall" }) }),
    ]);

    // An overlapping or later tick of the same episode neither decides nor holds again.
    expect(await tick(startedAt + HOUR + 1000)).toMatchObject({ flagged: 0 });
    expect(await decisionsFor(id)).toHaveLength(1);
    expect((await eventLog(id)).filter((e) => e.type === "ProcedureHeld")).toHaveLength(1);
  });

  it("answers an overlapping tick's report of the same Stall with what it did the first time", async () => {
    const { id, startedAt } = await conducted("hold");
    const episode = { status: "Running" as const, last_progress_at: new Date(startedAt).toISOString(), window: 3600, nowMs: startedAt + HOUR };
    expect(await procedureStub(id).observeStall(episode, true)).toEqual({ acted: "hold", not_acted: null });
    expect(await procedureStub(id).observeStall({ ...episode, nowMs: episode.nowMs + 60_000 }, true)).toEqual({ acted: "hold", not_acted: null });
    expect((await eventLog(id)).filter((e) => e.type === "ProcedureHeld")).toHaveLength(1);
  });

  it("delivers the decision of a Stall it held itself when the tick fails before its batch, once", async () => {
    const { id, startedAt } = await conducted("hold");
    let clock = Date.now() + HOUR;
    await runInDurableObject(procedureStub(id), (instance) => {
      instance.clock = { now: () => clock, sleep: () => new Promise<void>(() => {}) };
    });
    // D1 takes the tick's reads but not its decision's batch.
    const d1 = { prepare: (query: string) => env.DB.prepare(query), batch: () => Promise.reject(new Error("D1 unavailable")) } as unknown as D1Database;
    await tick(startedAt + HOUR, { d1 }).catch(() => undefined);
    expect(await stateOf(id)).toMatchObject({ status: "Held", hold_claims: [{ cause: "stall" }] });
    expect(await decisionsFor(id)).toEqual([]);

    clock += 30_000;
    expect(await runDurableObjectAlarm(procedureStub(id))).toBe(true);
    const [decision, ...more] = await decisionsFor(id);
    expect(more).toEqual([]);
    expect(decision).toMatchObject({ id: decisionId(id, new Date(startedAt).toISOString()), inputs: { acted: "hold" }, recorded_at: new Date(startedAt + HOUR).toISOString() });
    // Its notification waits in the D1 outbox for the next tick's drain, like any Stall's.
    const outbox = await env.DB.prepare("SELECT webhook_id FROM notification_outbox WHERE webhook_id = ?").bind(`msg_${decision!.id}`).all();
    expect(outbox.results).toHaveLength(1);
    // A tick that now succeeds for the same episode adds nothing.
    expect(await procedureStub(id).observeStall({ status: "Running", last_progress_at: new Date(startedAt).toISOString(), window: 3600, nowMs: startedAt + HOUR }, true)).toEqual({
      acted: "hold",
      not_acted: null,
    });
    expect(await decisionsFor(id)).toHaveLength(1);
  });

  it("lets an operator resume release the stall claim, and the open stall closes", async () => {
    const { id, startedAt } = await conducted("hold");
    await tick(startedAt + HOUR);
    expect(await stateOf(id)).toMatchObject({ status: "Held", open_stall_decision_id: expect.any(String) });
    const resumed = await command(id, "resume", { re_establishment_boundary: 0 });
    expect(resumed.status).toBe(200);
    expect(resumed.json).toMatchObject({ status: "Running", hold_claims: [], open_stall_decision_id: null });
  });

  it("lists a procedure the watcher held as stalled, as its state says, until an operator resumes it", async () => {
    const { id, startedAt } = await conducted("hold");
    await tick(startedAt + HOUR);
    await settled(id);
    const listed = async () => ((await call(`/v1/procedures?status=Held&limit=100`)).json.items as Array<Record<string, any>>).find((row) => row.procedure_id === id);
    // The hold moved the projection's progress time; it is still the stall's episode.
    expect(await listed()).toMatchObject({ status: "Held", hold_causes: ["stall"], stalled: true });
    expect(await stateOf(id)).toMatchObject({ open_stall_decision_id: expect.any(String) });

    expect((await command(id, "resume", { re_establishment_boundary: 0 })).status).toBe(200);
    const row = ((await call(`/v1/procedures?status=Running&limit=100`)).json.items as Array<Record<string, any>>).find((r) => r.procedure_id === id);
    expect(row).toMatchObject({ status: "Running", stalled: false });
    expect(await stateOf(id)).toMatchObject({ open_stall_decision_id: null });
  });

  it("does not act on a procedure an operator holds: it flags the deliberate pause only", async () => {
    const { id } = await conducted("hold");
    const heldAt = Date.parse((await command(id, "hold", { reason: "weekend" })).json.last_status_changed_at);
    expect(await tick(heldAt + 86_400_000)).toMatchObject({ flagged: 1 });
    const [decision] = await decisionsFor(id);
    expect(decision!.inputs).toMatchObject({ status: "Held", acted: null });
    expect(decision!.inputs).not.toHaveProperty("not_acted");
    expect(await stateOf(id)).toMatchObject({ status: "Held", hold_claims: [{ cause: "operator" }], open_stall_decision_id: decision!.id });
  });

  it("records the decision as not acted when the procedure progressed before the hold", async () => {
    const { id, startedAt } = await conducted("hold");
    // The gateway reports between the tick's reading and the act.
    const observeStall: TickDeps["observeStall"] = async (pid, stall, mayHold) => {
      await post(pid, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })]);
      return procedureStub(pid).observeStall(stall, mayHold);
    };
    expect(await tick(startedAt + HOUR, { observeStall })).toMatchObject({ flagged: 1 });
    const [decision] = await decisionsFor(id);
    expect(decision!.inputs).toMatchObject({ acted: null, not_acted: "progressed" });
    expect(await stateOf(id)).toMatchObject({ status: "Running", hold_claims: [], open_stall_decision_id: null });
  });
});

describe("the act rung's gates", () => {
  it("the kill switch stops the act as it stops the flag", async () => {
    const { id, startedAt } = await conducted("hold");
    await env.DB.prepare("UPDATE actors SET active = 0 WHERE actor_id = ?").bind(WATCHER_AGENT.id).run();
    expect(await tick(startedAt + HOUR)).toMatchObject({ outcome: "agent-inactive", flagged: 0 });
    expect(await tick(startedAt + HOUR, { config: { ...CONFIG, enabled: false } })).toMatchObject({ outcome: "disabled" });
    expect(await decisionsFor(id)).toEqual([]);
    expect(await stateOf(id)).toMatchObject({ status: "Running", hold_claims: [], open_stall_decision_id: null });
  });

  it("an agent without HoldProcedure flags but does not act, and logs the denial with the episode", async () => {
    const { id, startedAt } = await conducted("hold");
    await env.DB.prepare(`UPDATE principals SET roles = '["reader"]' WHERE principal_id = ?`).bind(WATCHER_AGENT.id).run();
    const warn = vi.spyOn(console, "warn");
    expect(await tick(startedAt + HOUR)).toMatchObject({ outcome: "ran", flagged: 1 });
    const [decision] = await decisionsFor(id);
    expect(decision!.inputs).toMatchObject({ acted: null, not_acted: "denied" });
    expect(await stateOf(id)).toMatchObject({ status: "Running", open_stall_decision_id: decision!.id });
    const denials = warn.mock.calls.filter(([line]) => String(line).includes("watcher denied HoldProcedure"));
    expect(denials).toHaveLength(1);
    await tick(startedAt + HOUR + 60_000);
    expect(warn.mock.calls.filter(([line]) => String(line).includes("watcher denied HoldProcedure"))).toHaveLength(1);
  });
});

describe("on_stall: flag (the default)", () => {
  it("records the Stall only; the state names it until the procedure progresses", async () => {
    const { id, startedAt, state } = await conducted();
    expect(state.on_stall).toBe("flag");
    expect(await tick(startedAt + HOUR)).toMatchObject({ flagged: 1 });
    const [decision] = await decisionsFor(id);
    expect(decision!.inputs).toMatchObject({ acted: null });
    expect(await stateOf(id)).toMatchObject({ status: "Running", hold_claims: [], open_stall_decision_id: decision!.id });
    await post(id, [entry({ step_kind: "heartbeat", payload: { message: "still here" } })]);
    expect(await stateOf(id)).toMatchObject({ open_stall_decision_id: null });
  });

  it("refuses on_stall values it does not know, and a caller's hold with the watcher's cause; nothing is written", async () => {
    const id = await registerProcedure();
    registered.push(id);
    expectProblem(await call(`/v1/procedures/${id}/conduct`, { body: { steps: [STEPS.setpoint], on_stall: "abort" } }), 400);
    expect(await stateOf(id)).toMatchObject({ status: "Defined", version: 1 });
    await conduct(id, { steps: [STEPS.setpoint] });
    expectProblem(await call(`/v1/procedures/${id}/hold`, { body: { reason: "me", cause: "stall" } }), 400);
    expect(await stateOf(id)).toMatchObject({ status: "Running", version: 3 });
  });
});
