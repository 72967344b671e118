import { describe, expect, it } from "vitest";
import { manifestOf } from "../../../src/conduct/entries";
import { payloadToStep } from "../../../src/conduct/steps";
import { decideActivities, decideGoAhead, MAX_ENTRY_PAYLOAD_BYTES, payloadTexts } from "../../../src/procedure/activity";
import { CTX, RESOLVED_CLOSING_STEPS, RESOLVED_STEPS, SCENARIOS } from "./fixtures";

const MANIFEST = manifestOf([...RESOLVED_STEPS, ...RESOLVED_CLOSING_STEPS].map(payloadToStep));
const LOGBOOK = { ...CTX, logbook_id: "01900000-0000-7000-8000-0000000000c3", done_steps: new Set<number>() };
const report = (event_id: string, step_kind: string, step_index: number, result: string, extra: Record<string, unknown> = {}) => ({
  event_id,
  step_kind,
  payload: { step_index, result, ...extra },
  sampled_at: CTX.now,
});

describe("decideActivities", () => {
  it("settles duplicates before the closed logbook: a retried batch that ended the procedure is recorded, not refused", () => {
    const completed = SCENARIOS.Completed().state;
    const batch = [report("e1", "setpoint", 0, "ok")];
    expect(decideActivities(completed, null, batch, new Set(["e1"]), LOGBOOK)).toMatchObject({
      ok: true,
      value: { fresh: [], duplicate_count: 1, events: [] },
    });
    expect(decideActivities(completed, null, batch, new Set(), LOGBOOK)).toMatchObject({
      ok: false,
      refusal: { error_class: "ProcedureStepsLogbookClosed" },
    });
  });

  it("opens the logbook with the first batch and completes on the last step's ok", () => {
    const running = SCENARIOS["Running (conducted)"]().state;
    const batch = [0, 1, 2, 3].map((i) => report(`e${i}`, MANIFEST.manifestKinds[i]!, i, "ok"));
    const decided = decideActivities(running, MANIFEST, batch, new Set(), LOGBOOK);
    expect(decided.ok && decided.value.events.map((e) => e.type)).toEqual(["ProcedureActivitiesLogbookOpened", "ProcedureCompleted"]);
    expect(decided.ok && decided.value.state.status).toBe("Completed");
  });

  it("holds on a recoverable failure under on_failure hold, and names the entry of a refused batch by its request position", () => {
    const running = SCENARIOS["Running (conducted)"]().state;
    const failed = decideActivities(running, MANIFEST, [report("f", "setpoint", 0, "failed", { error_class: "Drift" })], new Set(), LOGBOOK);
    expect(failed.ok && failed.value.state).toMatchObject({ status: "Held", hold_claims: [{ cause: "step-fault" }] });
    const mismatch = decideActivities(running, MANIFEST, [report("d", "setpoint", 0, "ok"), report("m", "check", 0, "ok")], new Set(["d"]), LOGBOOK);
    expect(mismatch).toMatchObject({ ok: false, refusal: { error_class: "StepKindMismatch", detail: expect.stringContaining("entries[1]") } });
  });

  it("gates a replayed action on the operator's go-ahead, which only an action or compute may take", () => {
    const replaying = SCENARIOS["Running (replay from 1)"]().state;
    expect(decideActivities(replaying, MANIFEST, [report("a", "action", 1, "ok")], new Set(), LOGBOOK)).toMatchObject({
      ok: false,
      refusal: { error_class: "AcquisitionResumeRequiresOperator" },
    });
    expect(decideGoAhead(replaying, MANIFEST, 2, CTX)).toMatchObject({ ok: false, refusal: { error_class: "ReplayStepNotAwaitingOperator" } });
    const approved = decideGoAhead(replaying, MANIFEST, 1, CTX);
    expect(approved.ok).toBe(true);
    if (!approved.ok) return;
    expect(decideActivities(approved.value.state, MANIFEST, [report("a", "action", 1, "ok")], new Set(), LOGBOOK).ok).toBe(true);
  });

  it("refuses a step reported before the steps ahead of it are done, counting the done steps it is given", () => {
    const running = SCENARIOS["Running (conducted)"]().state;
    const last = MANIFEST.manifestKinds.length - 1;
    const skip = [report("s", MANIFEST.manifestKinds[last]!, last, "ok")];
    expect(decideActivities(running, MANIFEST, skip, new Set(), LOGBOOK)).toMatchObject({
      ok: false,
      refusal: { error_class: "StepOutOfOrder", detail: `entries[0]: step ${last} is reported before step 0 is done` },
    });
    const done = new Set(Array.from({ length: last }, (_, i) => i));
    const decided = decideActivities(running, MANIFEST, skip, new Set(), { ...LOGBOOK, done_steps: done });
    expect(decided.ok && decided.value.state.status).toBe("Completed");
  });

  it("answers not found before a registration", () => {
    expect(decideActivities(null, null, [], new Set(), LOGBOOK)).toMatchObject({ ok: false, refusal: { error_class: "ProcedureNotFound" } });
  });
});

describe("payloadTexts", () => {
  const note = (event_id: string, text: string) => ({ event_id, step_kind: "note", payload: { text }, sampled_at: CTX.now });
  // What {"text":"..."} adds to the string's own bytes.
  const WRAP = JSON.stringify({ text: "" }).length;

  it("serializes each payload once, as the logbook stores it, up to the limit in UTF-8 bytes", () => {
    const euro = "\u20ac"; // 3 bytes in UTF-8, 1 unit in a JS string
    const room = MAX_ENTRY_PAYLOAD_BYTES - WRAP;
    const atLimit = note("a", euro.repeat(Math.floor(room / 3)) + "x".repeat(room % 3));
    const small = note("b", "ok");
    const verdict = payloadTexts([atLimit, small]);
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(new TextEncoder().encode(verdict.value.get(atLimit)).length).toBe(MAX_ENTRY_PAYLOAD_BYTES);
    expect(verdict.value.get(small)).toBe('{"text":"ok"}');
  });

  it("refuses the first payload over the limit by its UTF-8 bytes, though its length in characters is far under", () => {
    const over = note("c", "\u20ac".repeat(MAX_ENTRY_PAYLOAD_BYTES / 3));
    expect(JSON.stringify(over.payload).length).toBeLessThan(MAX_ENTRY_PAYLOAD_BYTES);
    expect(payloadTexts([note("a", "fine"), over])).toMatchObject({
      ok: false,
      refusal: { error_class: "ActivityEntryTooLarge", detail: `entries[1].payload is over ${MAX_ENTRY_PAYLOAD_BYTES} bytes serialized` },
    });
  });
});
