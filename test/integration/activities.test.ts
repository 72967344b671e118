import { describe, expect, it } from "vitest";
import { call, command, eventLog, expectProblem, registerProcedure, summaryOf, tokenFor } from "../helpers";
import { conduct, entry, post, STEPS } from "../conduct-helpers";

async function conducted(body: Record<string, unknown>) {
  const id = await registerProcedure();
  const result = await conduct(id, body);
  expect(result.json.succeeded).toBe(true);
  return id;
}

async function logbook(id: string) {
  return (await call(`/v1/procedures/${id}/activities?limit=500`)).json.items as Array<Record<string, unknown>>;
}

describe("a gateway conducting a procedure", () => {
  it("reports every step, closing steps included, and the last ok completes the procedure", async () => {
    const gateway = await tokenFor("gateway");
    const steps = [STEPS.setpoint, STEPS.action, STEPS.check, STEPS.capture, STEPS.compute];
    const id = await conducted({ steps, closing_steps: [{ kind: "setpoint", address: "stage.x", value: 0, verify: false }] });
    const kinds = [...steps.map((s) => s.kind), "setpoint"];

    for (const [index, kind] of kinds.entries()) {
      const effect = kind === "setpoint" || kind === "action" || kind === "compute";
      const batch = [
        ...(effect ? [entry({ step_kind: kind, step_index: index, result: "in_flight" })] : []),
        entry({ step_kind: kind, step_index: index, result: "ok" }),
      ];
      const posted = await post(id, batch, gateway);
      expect(posted.status).toBe(200);
      expect(posted.json).toEqual({ event_count: batch.length, duplicate_count: 0 });
      const state = (await call(`/v1/procedures/${id}`, { token: gateway })).json;
      expect(state.completed_count).toBe(index + 1);
      expect(state.in_flight_step_index).toBeNull();
    }
    const state = (await call(`/v1/procedures/${id}`)).json;
    expect(state).toMatchObject({ status: "Completed", step_count: 6, completed_count: 6 });
    expect(state.activity_logbook_id).toEqual(expect.any(String));
    const types = (await eventLog(id)).map((e) => e.type);
    expect(types).toEqual([
      "ProcedureRegistered",
      "ResolvedStepsRecorded",
      "ProcedureStarted",
      "ProcedureActivitiesLogbookOpened",
      "ProcedureCompleted",
    ]);
    expect(await summaryOf(id)).toMatchObject({ status: "Completed", activity_logbook_id: state.activity_logbook_id });
    expectProblem(await post(id, [entry({ step_kind: "setpoint", step_index: 0 })], gateway), 409, "ProcedureStepsLogbookClosed");
  });

  it("answers a retry of the batch that ended the procedure as duplicates, not as a closed logbook", async () => {
    const id = await conducted({ steps: [STEPS.capture] });
    const batch = [entry({ step_kind: "capture", step_index: 0, result: "ok" })];
    expect((await post(id, batch)).json).toEqual({ event_count: 1, duplicate_count: 0 });
    expect((await call(`/v1/procedures/${id}`)).json.status).toBe("Completed");
    expect((await post(id, batch)).json).toEqual({ event_count: 0, duplicate_count: 1 });
  });

  it("keeps the D1 activity mirror coarse: it may lag the object, never lead it", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    await post(id, [entry({ step_kind: "note", payload: { n: 1 } })]);
    const first = (await call(`/v1/procedures/${id}`)).json.last_activity_at;
    expect(await summaryOf(id)).toMatchObject({ last_activity_at: first });
    for (let n = 2; n <= 4; n++) await post(id, [entry({ step_kind: "note", payload: { n } })]);
    const latest = (await call(`/v1/procedures/${id}`)).json.last_activity_at;
    const mirror = (await summaryOf(id))!.last_activity_at as string;
    // Within the mirror's interval the later batches wrote nothing to D1.
    expect(mirror).toBe(first);
    expect(mirror <= latest).toBe(true);
  });

  it("marks the interrupted step while an in_flight has no outcome", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.action] });
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })]);
    expect((await call(`/v1/procedures/${id}`)).json.in_flight_step_index).toBe(0);
    expect((await call(`/v1/procedures/${id}/resume-point`)).json).toEqual({
      suggested_boundary: 0,
      in_flight_step_index: 0,
      completed_count: 0,
      step_count: 2,
    });
  });

  it("suggests no step before the boundary of a replay under way, reported or not", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.check, STEPS.setpoint] });
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })]);
    await command(id, "hold", { reason: "beam dump" });
    // The operator lets #0 and #1 stand and replays from #2; #0 stays in flight on record and #1 was never reported.
    await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 2 } });
    expect((await call(`/v1/procedures/${id}/resume-point`)).json).toMatchObject({ suggested_boundary: 2, in_flight_step_index: 0 });
    await post(id, [entry({ step_kind: "setpoint", step_index: 2, result: "in_flight" })]);
    expect((await call(`/v1/procedures/${id}/resume-point`)).json).toMatchObject({ suggested_boundary: 2, in_flight_step_index: 2 });
  });

  it.each([
    ["an index past the manifest", entry({ step_kind: "setpoint", step_index: 2 }), 422, "StepIndexOutOfRange"],
    ["a kind other than the pinned one", entry({ step_kind: "check", step_index: 0 }), 422, "StepKindMismatch"],
    ["a payload without step_index", entry({ step_kind: "setpoint", payload: { result: "ok" } }), 422, "StepEntryInvalid"],
    ["a failed step without error_class", entry({ step_kind: "setpoint", step_index: 0, result: "failed" }), 422, "StepEntryInvalid"],
  ])("refuses a batch with %s and writes nothing of it", async (_, bad, status, errorClass) => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.capture] });
    const good = entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" });
    const refused = await post(id, [good, bad]);
    expectProblem(refused, status, errorClass);
    expect(refused.json.detail).toContain("entries[1]");
    expect(await logbook(id)).toEqual([]);
    expect((await eventLog(id)).map((e) => e.type)).not.toContain("ProcedureActivitiesLogbookOpened");
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ in_flight_step_index: null, last_activity_at: null });
  });

  it("refuses malformed entries with 400: unknown fields, bad ids, empty or oversize batches", async () => {
    const id = await conducted({ steps: [STEPS.setpoint] });
    const ok = entry({ step_kind: "setpoint", step_index: 0 });
    expectProblem(await post(id, [{ ...ok, recorded_at: new Date().toISOString() }]), 400, "ValidationFailed");
    expectProblem(await post(id, [{ ...ok, event_id: crypto.randomUUID() }]), 400, "ValidationFailed");
    expectProblem(await post(id, []), 400, "ValidationFailed");
    const many = Array.from({ length: 501 }, () => entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" }));
    expectProblem(await post(id, many), 400, "ValidationFailed");
    expect(await logbook(id)).toEqual([]);
  });

  it("accepts only a Running procedure's entries (409 otherwise, nothing written)", async () => {
    const id = await registerProcedure();
    expectProblem(await post(id, [entry({ step_kind: "note", payload: {} })]), 409, "ProcedureStepsLogbookClosed");
    await command(id, "start");
    await command(id, "hold", { reason: "pause" });
    expectProblem(await post(id, [entry({ step_kind: "note", payload: {} })]), 409, "ProcedureStepsLogbookClosed");
    expect(await logbook(id)).toEqual([]);
    expectProblem(await post(crypto.randomUUID(), [entry({ step_kind: "note", payload: {} })]), 404, "ProcedureNotFound");
  });

  it("deduplicates on event_id within and across batches", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.capture] });
    const first = entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" });
    expect((await post(id, [first, first])).json).toEqual({ event_count: 1, duplicate_count: 1 });
    expect((await post(id, [first])).json).toEqual({ event_count: 0, duplicate_count: 1 });
    expect(await logbook(id)).toHaveLength(1);
  });

  it("sets recorded_at itself: a backdated sampled_at moves last_activity_at neither back nor past recorded_at", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const backdated = "2020-01-01T00:00:00.000Z";
    const future = new Date(Date.now() + 86_400_000).toISOString();
    await post(id, [entry({ step_kind: "note", payload: { text: "a" }, sampled_at: backdated })]);
    const [stored] = await logbook(id);
    expect(stored!.sampled_at).toBe(backdated);
    const recordedAt = stored!.recorded_at as string;
    expect(recordedAt > backdated).toBe(true);
    expect((await call(`/v1/procedures/${id}`)).json.last_activity_at).toBe(recordedAt);

    await post(id, [entry({ step_kind: "note", payload: { text: "b" }, sampled_at: future })]);
    const latest = (await logbook(id))[0]!;
    const state = (await call(`/v1/procedures/${id}`)).json;
    expect(state.last_activity_at).toBe(latest.recorded_at);
    expect(state.last_activity_at < future).toBe(true);
    expect(state.last_activity_at >= recordedAt).toBe(true);
  });

  it("pages the logbook newest first", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    for (let i = 0; i < 5; i++) await post(id, [entry({ step_kind: "note", payload: { n: i } })]);
    const first = await call(`/v1/procedures/${id}/activities?limit=2`, { token: await tokenFor("reader") });
    expect(first.json.items.map((e: { payload: { n: number } }) => e.payload.n)).toEqual([4, 3]);
    const second = await call(`/v1/procedures/${id}/activities?limit=2&cursor=${first.json.next_cursor}`);
    expect(second.json.items.map((e: { payload: { n: number } }) => e.payload.n)).toEqual([2, 1]);
    const third = await call(`/v1/procedures/${id}/activities?limit=2&cursor=${second.json.next_cursor}`);
    expect(third.json.items.map((e: { payload: { n: number } }) => e.payload.n)).toEqual([0]);
    expect(third.json.next_cursor).toBeNull();
  });

  it("guards the routes: 401, and 403 for readers posting or operators posting", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const e = entry({ step_kind: "note", payload: {} });
    expectProblem(await post(id, [e], null as never), 401);
    expectProblem(await post(id, [e], await tokenFor("reader")), 403);
    expectProblem(await post(id, [e], await tokenFor("operator")), 403);
    expectProblem(await call(`/v1/procedures/${id}/activities`, { token: await tokenFor("gateway") }), 403);
  });
});

describe("step order", () => {
  it("refuses a gateway that reports only the last step's ok: 409 StepOutOfOrder, nothing written", async () => {
    const gateway = await tokenFor("gateway");
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.check, STEPS.capture] });
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "ok" })], gateway);
    const before = { state: (await call(`/v1/procedures/${id}`)).json, log: await logbook(id), events: await eventLog(id), summary: await summaryOf(id) };

    const skipped = await post(id, [entry({ step_kind: "capture", step_index: 2, result: "ok" })], gateway);
    expectProblem(skipped, 409, "StepOutOfOrder");
    expect(skipped.json.detail).toBe("entries[0]: step 2 is reported before step 1 is done");
    // A batch whose later entry skips is refused whole, its in-order entries too.
    const mixed = [entry({ step_kind: "check", step_index: 1, result: "in_flight" }), entry({ step_kind: "capture", step_index: 2, result: "ok" })];
    expectProblem(await post(id, mixed, gateway), 409, "StepOutOfOrder");

    expect((await call(`/v1/procedures/${id}`)).json).toEqual(before.state);
    expect(before.state).toMatchObject({ status: "Running", completed_count: 1 });
    expect(await logbook(id)).toEqual(before.log);
    expect(await eventLog(id)).toEqual(before.events);
    expect(await summaryOf(id)).toEqual(before.summary);

    // In order, within one batch, the same steps complete the procedure.
    const inOrder = [entry({ step_kind: "check", step_index: 1, result: "ok" }), entry({ step_kind: "capture", step_index: 2, result: "ok" })];
    expect((await post(id, inOrder, gateway)).status).toBe(200);
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Completed", completed_count: 3 });
  });

  it("counts a step reported in_flight again as not done, across batches", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.capture] });
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "ok" })]);
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })]);
    expectProblem(await post(id, [entry({ step_kind: "capture", step_index: 1, result: "ok" })]), 409, "StepOutOfOrder");
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "ok" })]);
    expect((await post(id, [entry({ step_kind: "capture", step_index: 1, result: "ok" })])).status).toBe(200);
    expect((await call(`/v1/procedures/${id}`)).json.status).toBe("Completed");
  });

  it("takes the steps before the replay boundary as done, and shows the boundary in the state", async () => {
    const gateway = await tokenFor("gateway");
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.check, STEPS.capture, STEPS.setpoint] });
    expect((await call(`/v1/procedures/${id}`, { token: gateway })).json.replay_boundary).toBeNull();
    await command(id, "hold", { reason: "beam dump" });
    const resumed = await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 2 } });
    expect(resumed.status).toBe(200);
    // The gateway needs no reader grant to find where to resume.
    expect((await call(`/v1/procedures/${id}`, { token: gateway })).json).toMatchObject({ status: "Running", replay_boundary: 2 });
    expectProblem(await post(id, [entry({ step_kind: "setpoint", step_index: 3, result: "ok" })], gateway), 409, "StepOutOfOrder");
    const replayed = [entry({ step_kind: "capture", step_index: 2, result: "ok" }), entry({ step_kind: "setpoint", step_index: 3, result: "ok" })];
    expect((await post(id, replayed, gateway)).status).toBe(200);
    expect((await call(`/v1/procedures/${id}`, { token: gateway })).json).toMatchObject({ status: "Completed", replay_boundary: null });
  });
});

describe("heartbeats during a long step", () => {
  it("are stored and move the last activity, but never change step progress", async () => {
    const gateway = await tokenFor("gateway");
    const id = await conducted({ steps: [STEPS.compute, STEPS.capture] });
    await post(id, [entry({ step_kind: "compute", step_index: 0, result: "in_flight" })], gateway);
    const before = (await call(`/v1/procedures/${id}`)).json;

    const beats = [
      entry({ step_kind: "heartbeat", payload: { step_index: 0, progress: 0.4, message: "fitting" } }),
      entry({ step_kind: "heartbeat", payload: {} }),
    ];
    expect((await post(id, beats, gateway)).json).toEqual({ event_count: 2, duplicate_count: 0 });
    const after = (await call(`/v1/procedures/${id}`)).json;
    expect(after).toMatchObject({ status: "Running", completed_count: 0, in_flight_step_index: 0, version: before.version });
    expect(Date.parse(after.last_activity_at)).toBeGreaterThanOrEqual(Date.parse(before.last_activity_at));
    const [newest] = await logbook(id);
    expect(newest).toMatchObject({ step_kind: "heartbeat", payload: {}, recorded_at: after.last_activity_at });
    expect((await eventLog(id)).map((e) => e.type).at(-1)).toBe("ProcedureActivitiesLogbookOpened");

    // A heartbeat at 100% of the last step does not complete the procedure; the step's ok does.
    await post(id, [entry({ step_kind: "compute", step_index: 0, result: "ok" })], gateway);
    await post(id, [entry({ step_kind: "heartbeat", payload: { step_index: 1, progress: 1 } })], gateway);
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Running", completed_count: 1 });
  });

  it("refuses a batch with a malformed heartbeat with 422 and stores none of it", async () => {
    const id = await conducted({ steps: [STEPS.compute] });
    const batch = [
      entry({ step_kind: "compute", step_index: 0, result: "in_flight" }),
      entry({ step_kind: "heartbeat", payload: { progress: 2 } }),
    ];
    const refused = await post(id, batch);
    expectProblem(refused, 422, "StepEntryInvalid");
    expect(refused.json.detail).toContain("entries[1]");
    expectProblem(await post(id, [entry({ step_kind: "heartbeat", payload: { step_index: 1 } })]), 422, "StepIndexOutOfRange");
    expect(await logbook(id)).toEqual([]);
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ last_activity_at: null, in_flight_step_index: null });
  });
});

describe("a procedure started without conduct", () => {
  it("accepts free-form entries and completes only by an explicit complete", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const posted = await post(id, [entry({ step_kind: "note", payload: { step_index: 99, result: "ok" } })]);
    expect(posted.json).toEqual({ event_count: 1, duplicate_count: 0 });
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Running", step_count: null, completed_count: 0 });
    expectProblem(await call(`/v1/procedures/${id}/resume-point`), 404, "ManifestNotFound");
    expect((await command(id, "complete")).json.status).toBe("Completed");
  });
});

describe("failure policies", () => {
  it("aborts on a failed step with the reason naming the step", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.check] });
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })]);
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "failed", error_class: "MotorStall", message: "no motion" })]);
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({
      status: "Aborted",
      last_status_reason: "setpoint[0] stage.x failed: MotorStall: no motion",
    });
  });

  it("holds with cause step-fault when on_failure is hold and the step is a setpoint or check", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.check], on_failure: "hold" });
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "ok" })]);
    await post(id, [entry({ step_kind: "check", step_index: 1, result: "failed", error_class: "OutOfTolerance", message: "1.7" })]);
    const state = (await call(`/v1/procedures/${id}`)).json;
    expect(state).toMatchObject({ status: "Held", hold_claims: [{ cause: "step-fault" }] });
    expect(await summaryOf(id)).toMatchObject({ status: "Held", hold_causes: JSON.stringify(["step-fault"]) });
  });

  it("aborts an action failure even when on_failure is hold", async () => {
    const id = await conducted({ steps: [STEPS.action], on_failure: "hold" });
    await post(id, [entry({ step_kind: "action", step_index: 0, result: "failed", error_class: "ShutterJam" })]);
    expect((await call(`/v1/procedures/${id}`)).json.status).toBe("Aborted");
  });
});

describe("resume from a boundary", () => {
  it("suggests the first step without ok, replays from a boundary and gates action and compute on the operator", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.action, STEPS.capture, STEPS.compute] });
    const gateway = await tokenFor("gateway");
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "ok" })], gateway);
    await command(id, "hold", { reason: "beam dump" });
    expect((await call(`/v1/procedures/${id}/resume-point`, { token: gateway })).json).toMatchObject({
      suggested_boundary: 1,
      completed_count: 1,
      step_count: 4,
    });

    const plan = await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 1 } });
    expect(plan.json).toEqual({
      procedure_id: id,
      re_establishment_boundary: 1,
      completed: false,
      replay: [
        { step_index: 1, step: STEPS.action, requires_operator: true },
        { step_index: 2, step: STEPS.capture, requires_operator: false },
        { step_index: 3, step: STEPS.compute, requires_operator: true },
      ],
    });
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Running", replay_awaiting_operator: [1, 3] });

    const gated = await post(id, [entry({ step_kind: "action", step_index: 1, result: "in_flight" })], gateway);
    expectProblem(gated, 409, "AcquisitionResumeRequiresOperator");
    expectProblem(await call(`/v1/procedures/${id}/go-ahead`, { body: { step_index: 2 } }), 409, "ReplayStepNotAwaitingOperator");
    expectProblem(await call(`/v1/procedures/${id}/go-ahead`, { body: { step_index: 1 }, token: gateway }), 403);
    const approved = await call(`/v1/procedures/${id}/go-ahead`, { body: { step_index: 1 }, token: await tokenFor("operator") });
    expect(approved.json.replay_awaiting_operator).toEqual([3]);
    expect((await post(id, [entry({ step_kind: "action", step_index: 1, result: "ok" })], gateway)).status).toBe(200);
    expect((await eventLog(id)).map((e) => e.type)).toContain("ProcedureReplayStepAuthorized");
  });

  it("completes on a plain resume from the end of the pinned steps, as conduct-from does", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.capture] });
    await command(id, "hold", { reason: "pause" });
    const resumed = await command(id, "resume", { re_establishment_boundary: 2 });
    expect(resumed.status).toBe(200);
    expect(resumed.json).toMatchObject({ status: "Completed", hold_claims: [] });
    expect((await eventLog(id)).map((e) => e.type).slice(-2)).toEqual(["ProcedureResumed", "ProcedureCompleted"]);
    expect(await summaryOf(id)).toMatchObject({ status: "Completed" });
  });

  it("refuses conduct-from on a procedure started without conduct, writing nothing", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    await command(id, "hold", { reason: "pause" });
    const before = await eventLog(id);
    expectProblem(await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 0 } }), 409, "ProcedureNotConducted");
    expect(await eventLog(id)).toEqual(before);
  });

  it("refuses conduct-from unless Held, refuses a boundary past the end, and completes at the end", async () => {
    const id = await conducted({ steps: [STEPS.setpoint, STEPS.capture] });
    expectProblem(await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 0 } }), 409, "ProcedureCannotResume");
    await command(id, "hold", { reason: "pause" });
    const before = await eventLog(id);
    expectProblem(await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 3 } }), 400);
    expect(await eventLog(id)).toEqual(before);
    const done = await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 2 } });
    expect(done.json).toMatchObject({ completed: true, replay: [] });
    expect((await call(`/v1/procedures/${id}`)).json.status).toBe("Completed");
    expectProblem(await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 0 }, token: await tokenFor("gateway") }), 403);
  });
});
