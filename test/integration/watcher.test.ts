// The stall watcher's tick against the real projection and objects. Time is
// injected: each tick gets its `now`, so nothing sleeps.
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { decisionId, WATCHER_AGENT } from "../../src/watcher/stall";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { CONFIG, seededAgent, tick } from "../watcher-helpers";
import { call, command, expectProblem, procedureStub, registerProcedure, summaryOf, tokenFor } from "../helpers";

const HOUR = 3_600_000;

/** Procedures the running test registered; retired after it (see afterEach). */
const registered: string[] = [];

async function register() {
  const id = await registerProcedure();
  registered.push(id);
  return id;
}

async function running() {
  const id = await register();
  const state = (await command(id, "start")).json;
  return { id, startedAt: Date.parse(state.last_status_changed_at) };
}

/** `count` Running procedures, and the latest of their start times. */
async function manyRunning(count: number) {
  const started = await Promise.all(Array.from({ length: count }, running));
  return { ids: started.map((p) => p.id), latest: Math.max(...started.map((p) => p.startedAt)) };
}

async function decisionsFor(id: string) {
  const result = await call(`/v1/decisions?subject_id=${id}`);
  expect(result.status).toBe(200);
  return result.json.items as Array<Record<string, any>>;
}

beforeEach(seededAgent);

// A tick reads the whole projection, which every test in this file shares. So
// that the next test's ticks count only its own procedures, each test's are
// retired after it the way an operator would (abort) and a projection row the
// test forged to lag its object gets the object's status (and so no watch
// window: every retired procedure has left conduct) back.
afterEach(async () => {
  vi.restoreAllMocks();
  for (const id of registered.splice(0)) {
    const { status } = (await call(`/v1/procedures/${id}`)).json;
    if (status === "Running" || status === "Held") expect((await command(id, "abort", { reason: "test over" })).status).toBe(200);
    const truth = (await call(`/v1/procedures/${id}`)).json.status;
    await env.DB.prepare("UPDATE procedure_summary SET status = ?1, watch_window = NULL WHERE procedure_id = ?2 AND status <> ?1")
      .bind(truth, id)
      .run();
  }
});

describe("the stall predicate on a Running procedure", () => {
  it("flags exactly at the window and not a millisecond before", async () => {
    const { id, startedAt } = await running();
    const early = await tick(startedAt + HOUR - 1);
    expect(early).toMatchObject({ outcome: "ran", candidates: 0, flagged: 0 });
    const due = await tick(startedAt + HOUR);
    expect(due).toMatchObject({ outcome: "ran", candidates: 1, flagged: 1 });
    const [decision] = await decisionsFor(id);
    const lastProgressAt = new Date(startedAt).toISOString();
    expect(decision).toEqual({
      id: decisionId(id, lastProgressAt),
      context: "ProcedureProgress",
      choice: "Stall",
      decided_by: WATCHER_AGENT.id,
      rule: "agent:ProcedureWatcher:v1",
      subject_id: id,
      reasoning: expect.stringMatching(/^Procedure has been Running for 3600s without progressing/),
      inputs: {
        procedure_id: id,
        status: "Running",
        last_progress_at: lastProgressAt,
        stalled_seconds: 3600,
        occurred_at: new Date(startedAt + HOUR).toISOString(),
        acted: null,
      },
      confidence_source: "self_reported",
      parent_id: null,
      override_kind: null,
      recorded_at: new Date(startedAt + HOUR).toISOString(),
    });
    expect((await call(`/v1/decisions/${decision!.id}`, { token: await tokenFor("reader") })).json).toEqual(decision);
  });
});

describe("the anti-false-flag fold", () => {
  it("rescues a Running candidate whose object shows later activity than the lagging mirror", async () => {
    const { id, startedAt } = await running();
    await post(id, [entry({ step_kind: "note", payload: {} })]);
    const recordedAt = (await call(`/v1/procedures/${id}`)).json.last_activity_at as string;
    await env.DB.prepare("UPDATE procedure_summary SET last_activity_at = NULL WHERE procedure_id = ?").bind(id).run();

    const read = vi.fn((pid: string) => procedureStub(pid).watchReading());
    const summary = await tick(Date.parse(recordedAt) + HOUR - 1, { readProcedure: read });
    expect(Date.parse(recordedAt) + HOUR - 1 - startedAt).toBeGreaterThanOrEqual(HOUR);
    expect(summary).toMatchObject({ candidates: 1, rescued: 1, flagged: 0 });
    expect(read).toHaveBeenCalledWith(id);
    expect(await decisionsFor(id)).toEqual([]);
    expect(await summaryOf(id)).toMatchObject({ last_activity_at: recordedAt });
  });

  it("flags it when the latest activity is itself past the window, from that activity's time", async () => {
    const { id } = await running();
    await post(id, [entry({ step_kind: "note", payload: {} })]);
    const recordedAt = (await call(`/v1/procedures/${id}`)).json.last_activity_at as string;
    await env.DB.prepare("UPDATE procedure_summary SET last_activity_at = NULL WHERE procedure_id = ?").bind(id).run();
    const summary = await tick(Date.parse(recordedAt) + HOUR);
    expect(summary).toMatchObject({ candidates: 1, rescued: 0, flagged: 1 });
    const [decision] = await decisionsFor(id);
    expect(decision!.inputs.last_progress_at).toBe(recordedAt);
    expect(decision!.id).toBe(decisionId(id, recordedAt));
  });

  it("counts a heartbeat during a long step as activity: it rescues, and the stall is timed from it", async () => {
    const id = await register();
    await conduct(id, { steps: [STEPS.compute] });
    await post(id, [entry({ step_kind: "compute", step_index: 0, result: "in_flight" })]);
    await post(id, [entry({ step_kind: "heartbeat", payload: { step_index: 0, progress: 0.5 } })]);
    const beatAt = (await call(`/v1/procedures/${id}`)).json.last_activity_at as string;
    expect((await call(`/v1/procedures/${id}/activities?limit=1`)).json.items[0]).toMatchObject({ step_kind: "heartbeat", recorded_at: beatAt });
    // The mirror lags (it is refreshed at most once a minute); the fold reads the heartbeat from the object.
    await env.DB.prepare("UPDATE procedure_summary SET last_activity_at = NULL WHERE procedure_id = ?").bind(id).run();
    expect(await tick(Date.parse(beatAt) + HOUR - 1)).toMatchObject({ rescued: 1, flagged: 0 });
    expect(await tick(Date.parse(beatAt) + HOUR)).toMatchObject({ flagged: 1 });
    const [decision] = await decisionsFor(id);
    expect(decision!.inputs.last_progress_at).toBe(beatAt);
  });

  it("defers a candidate whose activity cannot be read, and flags it on a later tick", async () => {
    const { id, startedAt } = await running();
    const failing = await tick(startedAt + HOUR, { readProcedure: () => Promise.reject(new Error("object unreachable")) });
    expect(failing).toMatchObject({ candidates: 1, deferred: 1, flagged: 0 });
    expect(await decisionsFor(id)).toEqual([]);
    expect(await tick(startedAt + HOUR)).toMatchObject({ flagged: 1 });
  });

  it("skips a candidate whose object is no longer Running although the projection lags", async () => {
    const { id, startedAt } = await running();
    await command(id, "complete");
    await env.DB.prepare("UPDATE procedure_summary SET status = 'Running', watch_window = 'running' WHERE procedure_id = ?").bind(id).run();
    expect(await tick(startedAt + 2 * HOUR)).toMatchObject({ candidates: 1, skipped: 1, flagged: 0 });
    expect(await decisionsFor(id)).toEqual([]);
  });

  it("defers a row whose status time is unknown", async () => {
    const { id, startedAt } = await running();
    await env.DB.prepare("UPDATE procedure_summary SET last_status_changed_at = NULL WHERE procedure_id = ?").bind(id).run();
    expect(await tick(startedAt + 10 * HOUR)).toMatchObject({ deferred: 1, flagged: 0 });
    expect(await decisionsFor(id)).toEqual([]);
  });
});

describe("Held procedures", () => {
  it("are never folded: activity newer than the hold does not save a deliberate pause past its window", async () => {
    const { id } = await running();
    await post(id, [entry({ step_kind: "note", payload: {} })]);
    const heldAt = Date.parse((await command(id, "hold", { reason: "weekend" })).json.last_status_changed_at);
    await env.DB.prepare("UPDATE procedure_summary SET last_activity_at = ? WHERE procedure_id = ?")
      .bind(new Date(heldAt + 80_000_000).toISOString(), id)
      .run();
    const read = vi.fn((pid: string) => procedureStub(pid).watchReading());
    expect(await tick(heldAt + 86_400_000 - 1, { readProcedure: read })).toMatchObject({ flagged: 0 });
    expect(await tick(heldAt + 86_400_000, { readProcedure: read })).toMatchObject({ flagged: 1 });
    expect(read).not.toHaveBeenCalled();
    const [decision] = await decisionsFor(id);
    expect(decision!.inputs).toMatchObject({ status: "Held", last_progress_at: new Date(heldAt).toISOString() });
  });

  it("judges a step-fault hold on the Running window, a deliberate pause on the Held window", async () => {
    const paused = await running();
    const pausedAt = Date.parse((await command(paused.id, "hold", { reason: "lunch" })).json.last_status_changed_at);

    const faulted = await register();
    await conduct(faulted, { steps: [STEPS.check], on_failure: "hold" });
    await post(faulted, [entry({ step_kind: "check", step_index: 0, result: "failed", error_class: "OutOfTolerance" })]);
    const faultedState = (await call(`/v1/procedures/${faulted}`)).json;
    expect(faultedState.hold_claims).toEqual([expect.objectContaining({ cause: "step-fault" })]);
    const faultedAt = Date.parse(faultedState.last_status_changed_at);

    const now = Math.max(pausedAt, faultedAt) + HOUR;
    expect(await tick(now)).toMatchObject({ flagged: 1 });
    expect(await decisionsFor(faulted)).toHaveLength(1);
    expect(await decisionsFor(paused.id)).toEqual([]);
  });
});

describe("a procedure's own window (conduct's stale_after_seconds)", () => {
  async function conducted(body: Record<string, unknown>) {
    const id = await register();
    const result = await conduct(id, { steps: [STEPS.setpoint, STEPS.check], ...body });
    expect(result.json).toMatchObject({ succeeded: true });
    const state = (await call(`/v1/procedures/${id}`)).json;
    return { id, state, startedAt: Date.parse(state.last_status_changed_at) };
  }

  it("flags a short-window procedure the default window would not, exactly at its window", async () => {
    const { id, state, startedAt } = await conducted({ stale_after_seconds: 120 });
    expect(state.stale_after_seconds).toBe(120);
    expect(await summaryOf(id)).toMatchObject({ stale_after_seconds: 120, watch_window: "own" });
    expect(await tick(startedAt + 120_000 - 1)).toMatchObject({ candidates: 0, flagged: 0 });
    expect(await tick(startedAt + 120_000)).toMatchObject({ candidates: 1, flagged: 1 });
    const [decision] = await decisionsFor(id);
    expect(decision!.reasoning).toMatch(/for 120s without progressing \(window 120s\)/);
  });

  it("does not flag a long-window procedure past the default window, and flags it at its own", async () => {
    const { id, startedAt } = await conducted({ stale_after_seconds: 4 * 3600 });
    expect(await tick(startedAt + 2 * HOUR)).toMatchObject({ flagged: 0 });
    expect(await decisionsFor(id)).toEqual([]);
    expect(await tick(startedAt + 4 * HOUR)).toMatchObject({ flagged: 1 });
  });

  it("keeps the Held windows: a step fault is judged on the own window, a deliberate pause on the Held one", async () => {
    const faulted = await conducted({ stale_after_seconds: 300, on_failure: "hold" });
    await post(faulted.id, [entry({ step_kind: "setpoint", step_index: 0, result: "failed", error_class: "Timeout" })]);
    const faultedAt = Date.parse((await call(`/v1/procedures/${faulted.id}`)).json.last_status_changed_at);
    const paused = await conducted({ stale_after_seconds: 300 });
    const pausedAt = Date.parse((await command(paused.id, "hold", { reason: "lunch" })).json.last_status_changed_at);
    expect(await summaryOf(paused.id)).toMatchObject({ watch_window: "held", stale_after_seconds: 300 });

    const now = Math.max(faultedAt, pausedAt) + 300_000;
    expect(await tick(now)).toMatchObject({ flagged: 1 });
    expect(await decisionsFor(faulted.id)).toHaveLength(1);
    expect(await decisionsFor(paused.id)).toEqual([]);
    expect(await tick(pausedAt + 86_400_000)).toMatchObject({ flagged: 1 });
  });

  it("is rescued by activity like any Running procedure: its due time follows the activity mirror", async () => {
    const { id, startedAt } = await conducted({ stale_after_seconds: 120 });
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })]);
    const recordedAt = Date.parse((await call(`/v1/procedures/${id}`)).json.last_activity_at);
    expect(recordedAt).toBeGreaterThanOrEqual(startedAt);
    expect(await tick(recordedAt + 120_000 - 1)).toMatchObject({ flagged: 0 });
    expect(await tick(recordedAt + 120_000)).toMatchObject({ flagged: 1 });
    const [decision] = await decisionsFor(id);
    expect(decision!.inputs.last_progress_at).toBe(new Date(recordedAt).toISOString());
  });
});

describe("episodes", () => {
  it("records one decision per episode across repeated and overlapping ticks", async () => {
    const { id, startedAt } = await running();
    const now = startedAt + 2 * HOUR;
    const [a, b] = await Promise.all([tick(now), tick(now)]);
    expect(a.flagged + b.flagged).toBe(1);
    expect(await tick(now + HOUR)).toMatchObject({ candidates: 0, flagged: 0 });
    expect(await decisionsFor(id)).toHaveLength(1);
  });

  it("starts a new episode after progress: a later stall gets a new decision", async () => {
    const { id, startedAt } = await running();
    await tick(startedAt + HOUR);
    const heldAt = Date.parse((await command(id, "hold", { reason: "check", cause: "driver-stand-down" })).json.last_status_changed_at);
    expect(await tick(heldAt + HOUR)).toMatchObject({ flagged: 1 });
    const decisions = await decisionsFor(id);
    expect(decisions).toHaveLength(2);
    expect(new Set(decisions.map((d) => d.id)).size).toBe(2);
  });

  it("drains every page: a stalled procedure on a later page is flagged", async () => {
    const { ids, latest } = await manyRunning(7);
    const summary = await tick(latest + HOUR, { pageSize: 3 });
    expect(summary).toMatchObject({ candidates: 7, flagged: 7 });
    expect(summary.pages).toBeGreaterThanOrEqual(3);
    for (const id of ids) expect(await decisionsFor(id)).toHaveLength(1);
    const again = await tick(latest + 2 * HOUR, { pageSize: 3 });
    expect(again).toMatchObject({ candidates: 0, flagged: 0 });
  });

  it("works off a backlog larger than the cap over successive ticks, each episode decided once", async () => {
    const { ids, latest } = await manyRunning(7);
    const capped = { ...CONFIG, maxCandidates: 3 };
    const now = latest + HOUR;
    const first = await tick(now, { config: capped, pageSize: 2 });
    expect(first).toMatchObject({ candidates: 3, flagged: 3, capped: true });
    const second = await tick(now + 60_000, { config: capped, pageSize: 2 });
    expect(second).toMatchObject({ candidates: 3, flagged: 3, capped: true });
    const third = await tick(now + 120_000, { config: capped, pageSize: 2 });
    expect(third).toMatchObject({ candidates: 1, flagged: 1 });
    expect(third.capped).toBeUndefined();
    expect(await tick(now + 180_000, { config: capped })).toMatchObject({ candidates: 0, flagged: 0 });
    for (const id of ids) expect(await decisionsFor(id)).toHaveLength(1);
  });
});

describe("rows read", () => {
  it("reads a few rows per window however many procedures are watched: the pages and the count of unknown status times seek", async () => {
    const { id, startedAt } = await running();
    await env.DB.prepare("UPDATE procedure_summary SET last_status_changed_at = NULL WHERE procedure_id = ?").bind(id).run();
    // 300 watched procedures on every window, none of them due: a tick must not read them.
    const fresh = new Date(startedAt).toISOString();
    const watched = Array.from({ length: 300 }, (_, i) => ({
      procedure_id: crypto.randomUUID(),
      status: i % 3 === 1 ? "Held" : "Running",
      watch_window: (["running", "held", "own"] as const)[i % 3],
      stale_after_seconds: i % 3 === 2 ? 7200 : null,
    }));
    await env.DB.prepare(
      `INSERT INTO procedure_summary (procedure_id, name, kind, target_asset_ids, status, registered_at, last_status_changed_at, hold_causes,
                                      version, updated_at, watch_window, stale_after_seconds)
       SELECT json_extract(value, '$.procedure_id'), 'watched', 'calibration', '[]', json_extract(value, '$.status'), ?2, ?2,
              CASE json_extract(value, '$.status') WHEN 'Held' THEN '["operator"]' ELSE '[]' END, 2, ?2,
              json_extract(value, '$.watch_window'), json_extract(value, '$.stale_after_seconds')
       FROM json_each(?1) WHERE true`,
    )
      .bind(JSON.stringify(watched), fresh)
      .run();
    try {
      const summary = await tick(startedAt + 60_000);
      expect(summary).toMatchObject({ candidates: 0, deferred: 1, flagged: 0 });
      // Each window's page seeks to its cutoff, and the count reads its one row per window.
      expect(summary.rows_read).toBeLessThanOrEqual(12);
      expect(summary.rows_read).toBeGreaterThan(0);
    } finally {
      await env.DB.prepare("DELETE FROM procedure_summary WHERE procedure_id IN (SELECT value FROM json_each(?))")
        .bind(JSON.stringify(watched.map((w) => w.procedure_id)))
        .run();
    }
  });
});

describe("the kill switch, authorization and configuration", () => {
  it("does nothing when the agent's actor is absent, deactivated, and resumes when reactivated", async () => {
    const { id, startedAt } = await running();
    await env.DB.prepare("DELETE FROM actors WHERE actor_id = ?").bind(WATCHER_AGENT.id).run();
    expect(await tick(startedAt + HOUR)).toMatchObject({ outcome: "agent-missing", flagged: 0 });
    await env.DB.prepare(
      "INSERT INTO actors (actor_id, kind, name, active, updated_at) VALUES (?, 'agent', 'ProcedureWatcher', 1, ?)",
    )
      .bind(WATCHER_AGENT.id, new Date().toISOString())
      .run();

    const off = await call(`/v1/actors/${WATCHER_AGENT.id}/deactivate`, { method: "POST" });
    expect(off.json).toMatchObject({ actor_id: WATCHER_AGENT.id, kind: "agent", active: false });
    expect(await tick(startedAt + HOUR)).toMatchObject({ outcome: "agent-inactive", flagged: 0 });
    expect(await decisionsFor(id)).toEqual([]);

    expect((await call(`/v1/actors/${WATCHER_AGENT.id}/activate`, { method: "POST" })).json.active).toBe(true);
    expect(await tick(startedAt + HOUR)).toMatchObject({ outcome: "ran", flagged: 1 });
  });

  it("does nothing when the agent is denied ListProcedures, logging once per denial episode", async () => {
    const { startedAt } = await running();
    const warn = vi.spyOn(console, "warn");
    await env.DB.prepare("UPDATE principals SET roles = '[]' WHERE principal_id = ?").bind(WATCHER_AGENT.id).run();
    expect(await tick(startedAt + HOUR)).toMatchObject({ outcome: "denied", flagged: 0 });
    expect(await tick(startedAt + HOUR)).toMatchObject({ outcome: "denied" });
    expect(warn.mock.calls.filter(([line]) => String(line).includes("watcher denied"))).toHaveLength(1);
    expect((await call("/v1/watcher")).json).toMatchObject({ agent: { authorized: false }, denied_since: expect.any(String) });

    await env.DB.prepare(`UPDATE principals SET roles = '["watcher"]' WHERE principal_id = ?`).bind(WATCHER_AGENT.id).run();
    expect(await tick(startedAt + HOUR)).toMatchObject({ outcome: "ran", flagged: 1 });
    expect((await call("/v1/watcher")).json.denied_since).toBeNull();
  });

  it("is off by default: the Cron Trigger with the shipped configuration records nothing", async () => {
    const { id, startedAt } = await running();
    const before = (await call("/v1/watcher")).json.last_tick;
    const controller = createScheduledController({ scheduledTime: startedAt + 10 * HOUR, cron: "* * * * *" });
    await worker.scheduled(controller, env);
    expect(await decisionsFor(id)).toEqual([]);
    const status = await call("/v1/watcher", { token: await tokenFor("reader") });
    expect(status.json).toMatchObject({
      enabled: false,
      stale_after_seconds: 3600,
      held_stale_after_seconds: 86400,
      max_candidates: 500,
    });
    // A watcher that never ran shows no tick; after earlier ticks it shows that it is off.
    if (before === null) expect(status.json.last_tick).toBeNull();
    else expect(status.json.last_tick).toMatchObject({ outcome: "disabled", candidates: 0, flagged: 0 });
  });

  it("fails the Cron invocation when its tick fails", async () => {
    const outage = new Error("D1 unavailable");
    const unreachable = {
      prepare: () => {
        throw outage;
      },
      batch: () => Promise.reject(outage),
    } as unknown as D1Database;
    const controller = createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" });
    await expect(worker.scheduled(controller, { ...env, DB: unreachable })).rejects.toThrow("D1 unavailable");
  });

  it("shows the last tick's summary", async () => {
    const { startedAt } = await running();
    await tick(startedAt + HOUR);
    const status = await call("/v1/watcher");
    expect(status.json).toMatchObject({
      agent: { actor_id: WATCHER_AGENT.id, present: true, active: true, authorized: true },
      last_tick: { outcome: "ran", candidates: 1, flagged: 1, pages: expect.any(Number) },
    });
  });
});

describe("decision and actor routes", () => {
  it("filters and pages decisions", async () => {
    const mine: string[] = [];
    let latest = 0;
    for (let i = 0; i < 3; i++) {
      const p = await running();
      mine.push(p.id);
      latest = Math.max(latest, p.startedAt);
    }
    await tick(latest + HOUR);
    // Earlier tests' decisions share the table: walk every page, then look for these three.
    const first = await call("/v1/decisions?context=ProcedureProgress&choice=Stall&limit=2");
    expect(first.json.items).toHaveLength(2);
    const items: Array<Record<string, any>> = [...first.json.items];
    for (let cursor = first.json.next_cursor; cursor !== null; ) {
      const page = await call(`/v1/decisions?limit=2&cursor=${encodeURIComponent(cursor)}`);
      expect(page.json.items.length).toBeGreaterThan(0);
      expect(page.json.items.length).toBeLessThanOrEqual(2);
      items.push(...page.json.items);
      cursor = page.json.next_cursor;
    }
    expect(items.every((d) => d.context === "ProcedureProgress" && d.choice === "Stall")).toBe(true);
    expect(new Set(items.map((d) => d.id)).size).toBe(items.length);
    for (const id of mine) expect(items.filter((d) => d.subject_id === id)).toHaveLength(1);
  });

  it("refuses bad filters, unknown ids and unauthorized callers", async () => {
    expectProblem(await call("/v1/decisions?choice=Nap"), 400, "ValidationFailed");
    expectProblem(await call(`/v1/decisions/${crypto.randomUUID()}`), 404, "DecisionNotFound");
    expectProblem(await call("/v1/decisions", { token: null }), 401);
    expectProblem(await call("/v1/decisions", { token: await tokenFor("gateway") }), 403);
    expectProblem(await call(`/v1/actors/${WATCHER_AGENT.id}/deactivate`, { method: "POST", token: await tokenFor("operator") }), 403);
    expectProblem(await call(`/v1/actors/${crypto.randomUUID()}`), 404, "ActorNotFound");
    expect((await call(`/v1/actors/${WATCHER_AGENT.id}`)).json.active).toBe(true);
  });
});
