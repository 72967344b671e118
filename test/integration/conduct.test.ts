import { describe, expect, it } from "vitest";
import { call, command, eventLog, expectProblem, registerProcedure, summaryOf, tokenFor } from "../helpers";
import { conduct, entry, post, STEPS } from "../conduct-helpers";

describe("POST /v1/procedures/{id}/conduct", () => {
  it("resolves, pins and starts in one append, answering the result in the body", async () => {
    const id = await registerProcedure();
    const result = await conduct(id, {
      steps: [STEPS.setpoint, { kind: "scan", address: "stage.y", start: 0, stop: 2, points: 3, capture_name: "img" }],
      closing_steps: [{ kind: "setpoint", address: "stage.y", value: 0, verify: false }],
      on_failure: "hold",
    });
    expect(result.status).toBe(200);
    expect(result.json).toEqual({ procedure_id: id, step_count: 8, succeeded: true, failure: null });

    const log = await eventLog(id);
    expect(log.map((e) => e.type)).toEqual(["ProcedureRegistered", "ResolvedStepsRecorded", "ProcedureStarted"]);
    expect(log[1]!.payload).toMatchObject({ step_count: 8 });
    expect(log[2]!.payload).toMatchObject({ on_failure: "hold" });

    const manifest = await call(`/v1/procedures/${id}/manifest`, { token: await tokenFor("gateway") });
    expect(manifest.status).toBe(200);
    expect(manifest.json.resolved_steps).toEqual([
      STEPS.setpoint,
      { kind: "setpoint", address: "stage.y", value: 0, verify: true },
      { kind: "capture", address: "stage.y", capture_name: "img" },
      { kind: "setpoint", address: "stage.y", value: 1, verify: true },
      { kind: "capture", address: "stage.y", capture_name: "img" },
      { kind: "setpoint", address: "stage.y", value: 2, verify: true },
      { kind: "capture", address: "stage.y", capture_name: "img" },
    ]);
    expect(manifest.json.resolved_closing_steps).toEqual([{ kind: "setpoint", address: "stage.y", value: 0, verify: false }]);
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Running", step_count: 8, completed_count: 0 });
    expect(await summaryOf(id)).toMatchObject({ status: "Running", version: 3 });
  });

  it("answers a lifecycle failure in the body when the procedure is not Defined, and pins nothing", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const before = await eventLog(id);
    const result = await conduct(id, { steps: [STEPS.setpoint] });
    expect(result.status).toBe(200);
    expect(result.json).toMatchObject({
      procedure_id: id,
      succeeded: false,
      failure: { source_kind: "lifecycle", target: "start", step_index: null, error_class: "ProcedureCannotStart" },
    });
    expect(await eventLog(id)).toEqual(before);
    expectProblem(await call(`/v1/procedures/${id}/manifest`), 404, "ManifestNotFound");
  });

  it("refuses malformed steps with 400 and over-limit resolution with 422, writing nothing", async () => {
    const id = await registerProcedure();
    expectProblem(await conduct(id, { steps: [{ kind: "teleport", address: "x" }] }), 400, "ValidationFailed");
    expectProblem(await conduct(id, { steps: [] }), 400, "ValidationFailed");
    expectProblem(await conduct(id, { steps: [{ ...STEPS.setpoint, extra: 1 }] }), 400, "ValidationFailed");
    const huge = { kind: "repeat", times: 1000, steps: [{ kind: "scan", address: "a", start: 0, stop: 1, points: 100 }] };
    expectProblem(await conduct(id, { steps: [huge] }), 422, "StepResolutionLimitExceeded");
    expectProblem(await conduct(id, { steps: Array(501).fill(STEPS.capture) }), 422, "StepResolutionLimitExceeded");
    const bulky = { kind: "action", name: "load", params: { table: "v".repeat(2_000) } };
    expectProblem(await conduct(id, { steps: [{ kind: "repeat", times: 300, steps: [bulky] }] }), 422, "StepResolutionLimitExceeded");
    expect((await eventLog(id)).map((e) => e.type)).toEqual(["ProcedureRegistered"]);
    expect((await call(`/v1/procedures/${id}`)).json.status).toBe("Defined");
  });

  it("takes the procedure's own stall window into the start event, the state and the projection", async () => {
    const id = await registerProcedure();
    expect((await conduct(id, { steps: [STEPS.setpoint], stale_after_seconds: 604800 })).json).toMatchObject({ succeeded: true });
    expect((await eventLog(id))[2]!.payload).toMatchObject({ on_failure: "abort", stale_after_seconds: 604800 });
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Running", stale_after_seconds: 604800 });
    expect(await summaryOf(id)).toMatchObject({ stale_after_seconds: 604800 });

    const plain = await registerProcedure();
    await conduct(plain, { steps: [STEPS.setpoint] });
    expect((await eventLog(plain))[2]!.payload).not.toHaveProperty("stale_after_seconds");
    expect((await call(`/v1/procedures/${plain}`)).json.stale_after_seconds).toBeNull();
  });

  it.each([59, 604801, 90.5, "120", null])("refuses stale_after_seconds %j with 400, writing nothing", async (value) => {
    const id = await registerProcedure();
    expectProblem(await conduct(id, { steps: [STEPS.setpoint], stale_after_seconds: value }), 400, "ValidationFailed");
    expect((await eventLog(id)).map((e) => e.type)).toEqual(["ProcedureRegistered"]);
    expect((await call(`/v1/procedures/${id}`)).json.status).toBe("Defined");
  });

  it("answers 404 for an unknown procedure, 401 and 403", async () => {
    expectProblem(await conduct(crypto.randomUUID(), { steps: [STEPS.setpoint] }), 404, "ProcedureNotFound");
    const id = await registerProcedure();
    expectProblem(await conduct(id, { steps: [STEPS.setpoint] }, null as never), 401);
    expectProblem(await conduct(id, { steps: [STEPS.setpoint] }, await tokenFor("gateway")), 403);
    expectProblem(await conduct(id, { steps: [STEPS.setpoint] }, await tokenFor("reader")), 403);
  });
});

describe("pseudoaxes and pinning", () => {
  it("resolves a pseudoaxis at conduct time; editing it later changes nothing for that procedure's resume", async () => {
    const axis = `theta_${crypto.randomUUID().slice(0, 8)}`;
    const operator = await tokenFor("operator");
    const defined = await call(`/v1/pseudoaxes/${axis}`, {
      method: "PUT",
      token: operator,
      body: { constituents: [{ address: "motor.a", scale: 2, offset: 1 }, { address: "motor.b", scale: -1, offset: 0 }] },
    });
    expect(defined.status).toBe(200);

    const id = await registerProcedure();
    await conduct(id, { steps: [{ kind: "setpoint", address: axis, value: 10, verify: true }, STEPS.capture] });
    const pinned = (await call(`/v1/procedures/${id}/manifest`)).json.resolved_steps;
    expect(pinned).toEqual([
      { kind: "setpoint", address: "motor.a", value: 21, verify: true },
      { kind: "setpoint", address: "motor.b", value: -10, verify: true },
      STEPS.capture,
    ]);

    const edited = await call(`/v1/pseudoaxes/${axis}`, {
      method: "PUT",
      token: operator,
      body: { constituents: [{ address: "motor.c", scale: 1, offset: 0 }] },
    });
    expect(edited.json.constituents).toEqual([{ address: "motor.c", scale: 1, offset: 0 }]);
    expect((await call(`/v1/pseudoaxes/${axis}`, { token: await tokenFor("reader") })).json.constituents).toEqual([
      { address: "motor.c", scale: 1, offset: 0 },
    ]);

    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })]);
    await command(id, "hold", { reason: "swap sample" });
    const replay = await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 0 } });
    expect(replay.status).toBe(200);
    expect(replay.json.replay.map((r: { step: unknown }) => r.step)).toEqual(pinned);
    expect((await call(`/v1/procedures/${id}/manifest`)).json.resolved_steps).toEqual(pinned);
  });

  it("validates definitions and guards the routes", async () => {
    expectProblem(await call("/v1/pseudoaxes/a", { method: "PUT", body: { constituents: [] } }), 400, "ValidationFailed");
    expectProblem(
      await call("/v1/pseudoaxes/a", { method: "PUT", body: { constituents: [{ address: "a", scale: 1, offset: 0 }] } }),
      400,
      "PseudoaxisSelfReference",
    );
    expectProblem(await call(`/v1/pseudoaxes/missing-${crypto.randomUUID()}`), 404, "PseudoaxisNotFound");
    const body = { constituents: [{ address: "m", scale: 1, offset: 0 }] };
    expectProblem(await call("/v1/pseudoaxes/a", { method: "PUT", body, token: null }), 401);
    expectProblem(await call("/v1/pseudoaxes/a", { method: "PUT", body, token: await tokenFor("gateway") }), 403);
  });
});
