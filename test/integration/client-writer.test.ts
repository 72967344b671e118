// The client's activity writer against the service: batches, retries that
// never record an entry twice, Retry-After, refusals and heartbeats.
import { describe, expect, it } from "vitest";
import { isProblem, ProblemError } from "../../clients/typescript/src/index.ts";
import { conduct, STEPS } from "../conduct-helpers";
import { clientFor, FakeClock, logbookOf, workerFetch } from "../client-helpers";
import { registerProcedure, tokenFor } from "../helpers";

const isAppend = (request: Request) => request.method === "POST" && request.url.endsWith("/activities");

/** A started procedure with a free-form logbook. */
async function startedProcedure(operator: string) {
  const id = await registerProcedure({}, operator);
  await clientFor(operator).procedure(id).start();
  return id;
}

describe("the activity writer", () => {
  it("retries a batch whose answer was lost after the service stored it, without recording an entry twice", async () => {
    const operator = await tokenFor("operator");
    const gateway = await tokenFor("gateway");
    const id = await startedProcedure(operator);
    const answers: unknown[] = [];
    let appends = 0;
    const flaky = async (request: Request) => {
      if (!isAppend(request)) return workerFetch(request);
      appends += 1;
      const response = await workerFetch(request);
      answers.push(await response.clone().json());
      // The second batch reaches the service; its answer never comes back.
      if (appends === 2) throw new TypeError("connection reset by peer");
      return response;
    };
    const clock = new FakeClock();
    const writer = await clientFor(gateway, { fetch: flaky, clock }).procedure(id).activityWriter();

    for (let seq = 0; seq < 1200; seq++) void writer.entry("note", { seq });
    await writer.flush();

    expect(appends).toBe(4);
    expect(answers).toEqual([
      { event_count: 500, duplicate_count: 0 },
      { event_count: 500, duplicate_count: 0 },
      { event_count: 0, duplicate_count: 500 },
      { event_count: 200, duplicate_count: 0 },
    ]);
    expect(clock.sleeps).toHaveLength(1);
    const logbook = await logbookOf(id, operator);
    expect(logbook.map((e) => e.payload.seq)).toEqual(Array.from({ length: 1200 }, (_, seq) => seq));
    expect(new Set(logbook.map((e) => e.event_id)).size).toBe(1200);
    expect([...logbook.map((e) => e.event_id)].sort()).toEqual(logbook.map((e) => e.event_id));
  });

  it("waits as long as a 429's Retry-After asks before sending the batch again", async () => {
    const operator = await tokenFor("operator");
    const gateway = await tokenFor("gateway");
    const id = await startedProcedure(operator);
    let appends = 0;
    const limited = async (request: Request) => {
      if (!isAppend(request) || ++appends > 1) return workerFetch(request);
      const problem = { type: "urn:procedure-edge:problem:RateLimited", title: "Too Many Requests", status: 429, detail: "slow down", error_class: "RateLimited" };
      return new Response(JSON.stringify(problem), { status: 429, headers: { "content-type": "application/problem+json", "retry-after": "7" } });
    };
    const clock = new FakeClock();
    const writer = await clientFor(gateway, { fetch: limited, clock }).procedure(id).activityWriter();

    const recorded = writer.entry("note", { seq: 1 });
    await writer.flush();
    await recorded;

    expect(appends).toBe(2);
    expect(clock.sleeps).toEqual([7000]);
    expect((await logbookOf(id, operator)).map((e) => e.payload)).toEqual([{ seq: 1 }]);
  });

  it("backs off and retries on a 5xx, and gives up with the problem after the allowed attempts", async () => {
    const operator = await tokenFor("operator");
    const gateway = await tokenFor("gateway");
    const id = await startedProcedure(operator);
    let appends = 0;
    const unavailable = async (request: Request) => {
      if (!isAppend(request)) return workerFetch(request);
      appends += 1;
      const problem = { type: "about:blank", title: "Service Unavailable", status: 503, detail: "try later", error_class: "Unavailable" };
      return new Response(JSON.stringify(problem), { status: 503, headers: { "content-type": "application/problem+json" } });
    };
    const clock = new FakeClock();
    const client = clientFor(gateway, { fetch: unavailable, clock });
    const writer = await client.procedure(id).activityWriter();

    const recorded = writer.entry("note", { seq: 1 });
    await expect(writer.flush()).rejects.toMatchObject({ status: 503, error_class: "Unavailable" });
    await expect(recorded).rejects.toBeInstanceOf(ProblemError);

    expect(appends).toBe(8);
    // Half fixed, half random (0.5 here): 250 ms doubling per failure.
    expect(clock.sleeps).toEqual([188, 375, 750, 1500, 3000, 6000, 12000]);
    expect(await logbookOf(id, operator)).toEqual([]);
  });

  it("rejects a refused batch and everything behind it with the problem's error_class, and takes entries again after reset", async () => {
    const operator = await tokenFor("operator");
    const gateway = await tokenFor("gateway");
    const id = await registerProcedure({}, operator);
    let appends = 0;
    const counting = (request: Request) => ((appends += isAppend(request) ? 1 : 0), workerFetch(request));
    const writer = await clientFor(gateway, { fetch: counting }).procedure(id).activityWriter({ maxBatch: 2 });

    const first = writer.entry("note", { seq: 1 });
    const second = writer.entry("note", { seq: 2 });
    const third = writer.entry("note", { seq: 3 });
    const refusal = await writer.flush().catch((error: unknown) => error);

    expect(isProblem(refusal, "ProcedureStepsLogbookClosed")).toBe(true);
    expect((refusal as ProblemError).status).toBe(409);
    for (const entry of [first, second, third]) await expect(entry).rejects.toBe(refusal);
    expect(appends).toBe(1);
    await expect(writer.entry("note", { seq: 4 })).rejects.toBe(refusal);

    await clientFor(operator).procedure(id).start();
    writer.reset();
    const fifth = writer.entry("note", { seq: 5 });
    await writer.flush();
    await fifth;
    expect((await logbookOf(id, operator)).map((e) => e.payload)).toEqual([{ seq: 5 }]);
  });

  it("sends a heartbeat alone, as {step_kind: heartbeat, payload: {step_index, progress, message}}, so its refusal spares the step reports", async () => {
    const operator = await tokenFor("operator");
    const gateway = await tokenFor("gateway");
    const id = await registerProcedure({}, operator);
    expect((await conduct(id, { steps: [STEPS.setpoint, STEPS.check] }, operator)).json.succeeded).toBe(true);
    const batches: Array<Array<{ step_kind: string; payload: Record<string, unknown> }>> = [];
    const refusingHeartbeats = async (request: Request) => {
      if (!isAppend(request)) return workerFetch(request);
      const { entries } = (await request.clone().json()) as { entries: Array<{ step_kind: string; payload: Record<string, unknown> }> };
      batches.push(entries);
      if (entries.some((e) => e.step_kind !== "heartbeat")) return workerFetch(request);
      const problem = { type: "about:blank", title: "Unprocessable Content", status: 422, detail: "no heartbeats here", error_class: "StepEntryInvalid" };
      return new Response(JSON.stringify(problem), { status: 422, headers: { "content-type": "application/problem+json" } });
    };
    const writer = await clientFor(gateway, { fetch: refusingHeartbeats }).procedure(id).activityWriter();

    const inFlight = writer.inFlight(0);
    const beat = writer.heartbeat(0, 0.5, "ramping");
    void writer.ok(0);
    void writer.ok(1);
    await expect(beat).rejects.toMatchObject({ error_class: "StepEntryInvalid" });
    await inFlight;
    await writer.flush();

    expect(batches.map((b) => b.map((e) => e.step_kind))).toEqual([["setpoint"], ["heartbeat"], ["setpoint", "check"]]);
    expect(batches[1]![0]!.payload).toEqual({ step_index: 0, progress: 0.5, message: "ramping" });
    const state = await clientFor(operator).procedure(id).read();
    expect(state).toMatchObject({ status: "Completed", completed_count: 2 });
  });
});
