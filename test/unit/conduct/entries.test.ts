import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BatchContext,
  cutText,
  doneAfter,
  type EntryInput,
  judgeBatch,
  manifestOf,
  nextStepDue,
  stepTarget,
} from "../../../src/conduct/entries";
import type { Step } from "../../../src/conduct/steps";

const pinned: Step[] = [
  { kind: "setpoint", address: "mono.theta", value: 1, verify: true },
  { kind: "action", name: "open_shutter", params: {} },
  { kind: "check", address: "ring.current", criterion: { kind: "within_tolerance", expected: 300, tolerance: 1 } },
  { kind: "capture", address: "det", capture_name: "img" },
  { kind: "compute", command: ["integrate", "--fast"], input_uris: [], parameters: {} },
  { kind: "setpoint", address: "mono.theta", value: 0, verify: false },
];

function ctx(overrides: Partial<BatchContext> = {}): BatchContext {
  return { ...manifestOf(pinned), on_failure: "abort", replay: null, stepCount: pinned.length, done: new Set(), ...overrides };
}

/** Steps 0 to n-1 done: the record of a run that reached step n. */
const upTo = (n: number) => new Set(Array.from({ length: n }, (_, i) => i));

let counter = 0;
function entry(step_index: number, result: string, extra: Record<string, unknown> = {}): EntryInput {
  const kind = pinned[step_index]?.kind ?? "setpoint";
  return { event_id: `e-${counter++}`, step_kind: kind, payload: { step_index, result, ...extra } };
}
const failed = (i: number, error_class = "Timeout", message = "no answer") => entry(i, "failed", { error_class, message });

describe("stepTarget and manifestOf", () => {
  it("names what each kind acts on", () => {
    expect(pinned.map(stepTarget)).toEqual(["mono.theta", "open_shutter", "ring.current", "det", "integrate", "mono.theta"]);
    expect(manifestOf(pinned).manifestKinds).toEqual(["setpoint", "action", "check", "capture", "compute", "setpoint"]);
  });
});

describe("judgeBatch: refusals", () => {
  it.each([
    ["a missing result", { step_index: 0 }, "result"],
    ["a negative index", { step_index: -1, result: "ok" }, "step_index"],
    ["a fractional index", { step_index: 1.5, result: "ok" }, "step_index"],
    ["an unknown result", { step_index: 0, result: "done" }, "result"],
    ["failed without error_class", { step_index: 0, result: "failed", message: "x" }, "error_class"],
    ["an over-long message", { step_index: 0, result: "failed", error_class: "E", message: "m".repeat(2001) }, "message"],
  ])("refuses %s as StepEntryInvalid, naming the entry", (_label, payload, field) => {
    const result = judgeBatch(ctx(), [entry(0, "ok"), { event_id: "x", step_kind: "setpoint", payload }]);
    expect(result).toMatchObject({ ok: false, error_class: "StepEntryInvalid", entry_index: 1 });
    expect(result.ok ? "" : result.detail).toContain(`entries[1]: not a step entry: ${field}`);
  });

  it("keeps the gateway's measurements next to the step report", () => {
    const result = judgeBatch(ctx({ done: upTo(3) }), [entry(3, "ok", { counts: [1, 2], exposure_s: 0.1 })]);
    expect(result).toEqual({ ok: true, steps: [{ step_index: 3, result: "ok" }], outcome: null });
  });

  it("refuses an index past the manifest as StepIndexOutOfRange", () => {
    const result = judgeBatch(ctx(), [entry(0, "ok"), entry(6, "ok")]);
    expect(result).toEqual({
      ok: false,
      error_class: "StepIndexOutOfRange",
      detail: "entries[1]: step_index 6 is past the manifest's 6 steps",
      entry_index: 1,
    });
  });

  it("refuses a kind that differs from the pinned one as StepKindMismatch", () => {
    const result = judgeBatch(ctx(), [{ event_id: "x", step_kind: "action", payload: { step_index: 0, result: "ok" } }]);
    expect(result).toEqual({
      ok: false,
      error_class: "StepKindMismatch",
      detail: "entries[0]: step 0 is a setpoint, not an action",
      entry_index: 0,
    });
  });

  it("accepts in_flight for a step without an effect", () => {
    expect(judgeBatch(ctx({ done: upTo(2) }), [entry(2, "in_flight"), entry(2, "ok"), entry(3, "in_flight")])).toEqual({
      ok: true,
      steps: [
        { step_index: 2, result: "in_flight" },
        { step_index: 2, result: "ok" },
        { step_index: 3, result: "in_flight" },
      ],
      outcome: null,
    });
  });

  it("reports the first offending entry when several are bad", () => {
    const result = judgeBatch(ctx(), [entry(0, "ok"), entry(9, "ok"), { event_id: "x", step_kind: "setpoint", payload: {} }]);
    expect(result).toMatchObject({ ok: false, error_class: "StepIndexOutOfRange", entry_index: 1 });
  });
});

describe("judgeBatch: free-form logbook", () => {
  it("accepts anything with no step reports and no outcome", () => {
    const free = ctx({ manifestKinds: null, manifestTargets: undefined, stepCount: 0 });
    const entries: EntryInput[] = [
      { event_id: "a", step_kind: "note", payload: { text: "cleaned the sample" } },
      { event_id: "b", step_kind: "setpoint", payload: { step_index: 99, result: "failed" } },
    ];
    expect(judgeBatch(free, entries)).toEqual({ ok: true, steps: [null, null], outcome: null });
  });
});

describe("judgeBatch: outcomes", () => {
  it("completes on an ok for the last step, not on its in_flight", () => {
    expect(judgeBatch(ctx({ done: upTo(5) }), [entry(5, "in_flight")])).toMatchObject({ ok: true, outcome: null });
    expect(judgeBatch(ctx({ done: upTo(5) }), [entry(5, "in_flight"), entry(5, "ok")])).toMatchObject({ ok: true, outcome: { type: "complete" } });
  });

  it("has no outcome for oks before the last step", () => {
    expect(judgeBatch(ctx(), [0, 1, 2, 3, 4].map((i) => entry(i, "ok")))).toMatchObject({ ok: true, outcome: null });
  });

  it("aborts on a failed step with the domain's reason text", () => {
    expect(judgeBatch(ctx(), [entry(0, "ok"), failed(1, "ShutterJammed", "stuck at 40%")])).toMatchObject({
      ok: true,
      outcome: { type: "abort", reason: "action[1] open_shutter failed: ShutterJammed: stuck at 40%" },
    });
    expect(judgeBatch(ctx({ done: upTo(4) }), [entry(4, "failed", { error_class: "Exit1" })])).toMatchObject({
      outcome: { type: "abort", reason: "compute[4] integrate failed: Exit1: " },
    });
  });

  it("cuts the reason to 500 characters", () => {
    const result = judgeBatch(ctx(), [failed(0, "E", "x".repeat(2000))]);
    const reason = result.ok && result.outcome?.type === "abort" ? result.outcome.reason : "";
    expect(reason).toHaveLength(500);
    expect(reason.startsWith("setpoint[0] mono.theta failed: E: xxx")).toBe(true);
  });

  it("never leaves half a surrogate pair at the cut", () => {
    const prefix = "a".repeat(499);
    expect(cutText(`${prefix}😀`, 500)).toBe(prefix);
    expect(cutText(`${prefix}b😀`, 500)).toBe(`${prefix}b`);
    expect(cutText("short", 500)).toBe("short");
  });

  it.each([
    ["setpoint", 0, "hold"],
    ["check", 2, "hold"],
    ["action", 1, "abort"],
    ["compute", 4, "abort"],
    ["capture", 3, "abort"],
  ] as const)("with on_failure hold, a failed %s gives %s", (_kind, index, type) => {
    const result = judgeBatch(ctx({ on_failure: "hold", done: upTo(index) }), [failed(index)]);
    const reason = `${pinned[index]!.kind}[${index}] ${stepTarget(pinned[index]!)} failed: Timeout: no answer`;
    expect(result).toMatchObject({
      ok: true,
      outcome: type === "hold" ? { type, reason, cause: "step-fault" } : { type, reason },
    });
  });

  it("with on_failure abort, a failed setpoint aborts", () => {
    expect(judgeBatch(ctx(), [failed(0)])).toMatchObject({ outcome: { type: "abort" } });
  });

  it("lets the first outcome win and still accepts the later entries", () => {
    const failThenComplete = judgeBatch(ctx({ done: upTo(5) }), [failed(2, "OutOfRange", "301.5"), entry(2, "ok"), entry(5, "ok")]);
    expect(failThenComplete).toEqual({
      ok: true,
      steps: [
        { step_index: 2, result: "failed" },
        { step_index: 2, result: "ok" },
        { step_index: 5, result: "ok" },
      ],
      outcome: { type: "abort", reason: "check[2] ring.current failed: OutOfRange: 301.5" },
    });
    const completeThenFail = judgeBatch(ctx({ done: upTo(5) }), [entry(5, "ok"), failed(0)]);
    expect(completeThenFail).toMatchObject({ ok: true, outcome: { type: "complete" } });
    const twoFailures = judgeBatch(ctx({ on_failure: "hold" }), [failed(0, "First"), failed(0, "Second")]);
    expect(twoFailures).toMatchObject({ outcome: { type: "hold", reason: "setpoint[0] mono.theta failed: First: no answer" } });
  });

  it("omits the target when the shell gave none", () => {
    expect(judgeBatch(ctx({ manifestTargets: undefined }), [failed(0)])).toMatchObject({
      outcome: { type: "abort", reason: "setpoint[0] failed: Timeout: no answer" },
    });
  });
});

describe("judgeBatch: replay after a resume", () => {
  const replay = (approved: number[] = [], done = new Set<number>()) => ctx({ replay: { boundary: 1, approved: new Set(approved) }, done });

  it("refuses a replayed action or compute without approval, whatever the result", () => {
    for (const [index, result] of [
      [1, "in_flight"],
      [1, "ok"],
      [4, "failed"],
    ] as const) {
      const extra = result === "failed" ? { error_class: "E" } : {};
      expect(judgeBatch(replay(), [entry(0, "ok"), entry(index, result, extra)])).toMatchObject({
        ok: false,
        error_class: "AcquisitionResumeRequiresOperator",
        entry_index: 1,
      });
    }
  });

  it("accepts a replayed action once approved, and the other kinds without approval", () => {
    expect(judgeBatch(replay([1]), [entry(1, "ok"), entry(2, "ok"), entry(3, "ok")])).toMatchObject({ ok: true });
    expect(judgeBatch(replay([1], upTo(4)), [entry(4, "ok")])).toMatchObject({ ok: false, error_class: "AcquisitionResumeRequiresOperator" });
    expect(judgeBatch(replay([1, 4], upTo(4)), [entry(4, "ok")])).toMatchObject({ ok: true });
  });

  it("does not gate steps before the boundary", () => {
    const before = ctx({ replay: { boundary: 5, approved: new Set() } });
    expect(judgeBatch(before, [entry(1, "ok"), entry(4, "ok")])).toMatchObject({ ok: true });
  });
});

describe("judgeBatch: step order", () => {
  it("refuses a step reported before an earlier one is done, naming both", () => {
    expect(judgeBatch(ctx(), [entry(1, "ok")])).toEqual({
      ok: false,
      error_class: "StepOutOfOrder",
      detail: "entries[0]: step 1 is reported before step 0 is done",
      entry_index: 0,
    });
    // Whatever the result: an in_flight or a failure of a later step is refused too.
    expect(judgeBatch(ctx({ done: upTo(2) }), [entry(3, "in_flight")])).toMatchObject({ ok: false, error_class: "StepOutOfOrder" });
    expect(judgeBatch(ctx({ done: new Set([0, 2, 3, 4]) }), [failed(5)])).toMatchObject({
      ok: false,
      error_class: "StepOutOfOrder",
      detail: "entries[0]: step 5 is reported before step 1 is done",
    });
  });

  it("refuses the last step's ok alone: a run is never complete with steps unreported", () => {
    expect(judgeBatch(ctx(), [entry(5, "in_flight"), entry(5, "ok")])).toMatchObject({ ok: false, error_class: "StepOutOfOrder", entry_index: 0 });
  });

  it("counts the batch's own earlier entries, and only an ok makes a step done", () => {
    const run = [0, 1, 2, 3, 4, 5].flatMap((i) => [entry(i, "in_flight"), entry(i, "ok")]);
    expect(judgeBatch(ctx({ replay: { boundary: 0, approved: new Set([1, 4]) } }), run)).toMatchObject({
      ok: true,
      outcome: { type: "complete" },
    });
    expect(judgeBatch(ctx(), [entry(0, "in_flight"), entry(1, "in_flight")])).toMatchObject({ ok: false, error_class: "StepOutOfOrder", entry_index: 1 });
  });

  it("takes a step reported in_flight again as not done until its next ok", () => {
    expect(judgeBatch(ctx({ done: upTo(1) }), [entry(0, "in_flight"), entry(1, "ok")])).toMatchObject({
      ok: false,
      error_class: "StepOutOfOrder",
      detail: "entries[1]: step 1 is reported before step 0 is done",
    });
    expect(judgeBatch(ctx({ done: upTo(1) }), [entry(0, "in_flight"), entry(0, "ok"), entry(1, "ok")])).toMatchObject({ ok: true });
  });

  it("counts the steps before the replay boundary as done", () => {
    const fromTwo = (done = new Set<number>()) => ctx({ replay: { boundary: 2, approved: new Set() }, done });
    expect(judgeBatch(fromTwo(), [entry(2, "ok"), entry(3, "ok")])).toMatchObject({ ok: true });
    expect(judgeBatch(fromTwo(), [entry(0, "in_flight"), entry(2, "ok")])).toMatchObject({ ok: true });
    expect(judgeBatch(fromTwo(), [entry(3, "ok")])).toMatchObject({
      ok: false,
      error_class: "StepOutOfOrder",
      detail: "entries[0]: step 3 is reported before step 2 is done",
    });
  });

  it("lets heartbeats name any step: they report none", () => {
    const beat = { event_id: "hb", step_kind: "heartbeat", payload: { step_index: 5, progress: 0.5 } };
    expect(judgeBatch(ctx(), [beat, entry(0, "ok")])).toEqual({ ok: true, steps: [null, { step_index: 0, result: "ok" }], outcome: null });
  });

  it("nextStepDue and doneAfter: the newest report of a step decides whether it is done", () => {
    expect(nextStepDue(new Set(), null)).toBe(0);
    expect(nextStepDue(new Set([0, 1, 3]), null)).toBe(2);
    expect(nextStepDue(new Set([3]), { boundary: 2, approved: [] })).toBe(2);
    expect(nextStepDue(new Set([2, 3]), { boundary: 2, approved: [] })).toBe(4);
    const done = doneAfter(new Set([0]), [{ step_index: 1, result: "ok" }, null, { step_index: 0, result: "in_flight" }]);
    expect([...done]).toEqual([1]);
  });

  // Only setpoints, checks and captures, so no operator go-ahead gets in the way.
  const safe: Step[] = [
    { kind: "setpoint", address: "a", value: 1, verify: true },
    { kind: "check", address: "b", criterion: { kind: "equals", expected: 1 } },
    { kind: "capture", address: "c", capture_name: "img" },
    { kind: "setpoint", address: "d", value: 2, verify: false },
  ];
  const report = fc.record({ step_index: fc.integer({ min: 0, max: safe.length - 1 }), result: fc.constantFrom("in_flight" as const, "ok" as const) });
  const batches = fc.array(fc.array(report, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 });
  const boundary = fc.option(fc.integer({ min: 0, max: safe.length }), { nil: null });

  it("never completes a run with a step neither reported ok nor before the replay boundary (property)", () => {
    fc.assert(
      fc.property(batches, boundary, (sequence, from) => {
        const replay = from === null ? null : { boundary: from, approved: new Set<number>() };
        let done = new Set<number>();
        const okEver = new Set<number>();
        for (const [b, reports] of sequence.entries()) {
          const entries = reports.map((r, i) => ({ event_id: `${b}-${i}`, step_kind: safe[r.step_index]!.kind, payload: { ...r } }));
          const judged = judgeBatch({ ...manifestOf(safe), on_failure: "abort", replay, stepCount: safe.length, done }, entries);
          // The reference rule, written the plain way: every step before i is done or before the boundary.
          let model = new Set(done);
          const inOrder = reports.every((r) => {
            const ok = Array.from({ length: r.step_index }, (_, j) => j).every((j) => model.has(j) || (from !== null && j < from));
            model = doneAfter(model, [r]);
            return ok;
          });
          expect(judged.ok).toBe(inOrder);
          if (!judged.ok) {
            expect(judged.error_class).toBe("StepOutOfOrder");
            continue;
          }
          for (const r of reports) if (r.result === "ok") okEver.add(r.step_index);
          done = doneAfter(done, judged.steps);
          if (judged.outcome?.type === "complete") {
            for (let i = 0; i < safe.length; i++) expect(okEver.has(i) || (from !== null && i < from)).toBe(true);
            return;
          }
        }
      }),
      { numRuns: 500, seed: 16 },
    );
  });
});

describe("judgeBatch: heartbeats", () => {
  const beat = (payload: Record<string, unknown>): EntryInput => ({ event_id: `e-${counter++}`, step_kind: "heartbeat", payload });

  it("accepts a heartbeat with any of its fields, reporting no step and no outcome", () => {
    const batch = [beat({}), beat({ step_index: 1, progress: 0 }), beat({ step_index: 5, progress: 1, message: "integrating" })];
    expect(judgeBatch(ctx(), batch)).toEqual({ ok: true, steps: [null, null, null], outcome: null });
  });

  it("never completes, fails or advances a step, even beside step entries", () => {
    const batch = [entry(0, "in_flight"), beat({ step_index: 0, progress: 0.5 }), entry(0, "ok")];
    expect(judgeBatch(ctx(), batch)).toEqual({
      ok: true,
      steps: [{ step_index: 0, result: "in_flight" }, null, { step_index: 0, result: "ok" }],
      outcome: null,
    });
    // On the last step a heartbeat is not the ok that completes the procedure.
    expect(judgeBatch(ctx(), [beat({ step_index: 5, progress: 1 })])).toMatchObject({ ok: true, outcome: null });
  });

  it("is not gated by a replay awaiting the operator: it reports nothing", () => {
    const replay = ctx({ replay: { boundary: 1, approved: new Set() } });
    expect(judgeBatch(replay, [beat({ step_index: 1, progress: 0.2 })])).toMatchObject({ ok: true });
  });

  it.each([
    ["progress above 1", { progress: 1.01 }, "StepEntryInvalid"],
    ["negative progress", { progress: -0.1 }, "StepEntryInvalid"],
    ["progress as a string", { progress: "50%" }, "StepEntryInvalid"],
    ["a fractional step_index", { step_index: 1.5 }, "StepEntryInvalid"],
    ["an unknown field", { result: "ok" }, "StepEntryInvalid"],
    ["a message too long", { message: "m".repeat(2001) }, "StepEntryInvalid"],
    ["step_index past the manifest", { step_index: 6 }, "StepIndexOutOfRange"],
  ])("refuses the batch for a heartbeat with %s, naming the entry", (_, payload, error_class) => {
    expect(judgeBatch(ctx(), [entry(0, "ok"), beat(payload)])).toMatchObject({ ok: false, error_class, entry_index: 1 });
  });
});
