import { describe, expect, it } from "vitest";
import { boundaryError, replayPlan, requiresOperator, suggestBoundary } from "../../../src/conduct/replay";
import { STEP_KINDS, type Step } from "../../../src/conduct/steps";

const pinned: Step[] = [
  { kind: "setpoint", address: "x", value: 1, verify: true },
  { kind: "action", name: "open_shutter", params: { ms: 5 } },
  { kind: "capture", address: "det", capture_name: "img" },
  { kind: "compute", command: ["fit"], input_uris: ["r2://a"], parameters: {}, capture_name: "fit" },
  { kind: "check", address: "x", criterion: { kind: "equals", expected: 1 } },
];

describe("suggestBoundary", () => {
  it("prefers the interrupted in-flight step", () => {
    expect(suggestBoundary({ stepCount: 5, inFlightStepIndex: 3, okIndexes: new Set([0]) })).toBe(3);
  });

  it("else gives the first step without an ok, even with later oks", () => {
    expect(suggestBoundary({ stepCount: 5, inFlightStepIndex: null, okIndexes: new Set([0, 1, 3]) })).toBe(2);
    expect(suggestBoundary({ stepCount: 5, inFlightStepIndex: null, okIndexes: new Set() })).toBe(0);
    // While a replay from #2 runs, #0 and #1 count as done, reported or not.
    expect(suggestBoundary({ stepCount: 5, inFlightStepIndex: null, okIndexes: new Set([2]), doneBefore: 2 })).toBe(3);
    // A step left in flight before the boundary was let stand by the resume too.
    expect(suggestBoundary({ stepCount: 5, inFlightStepIndex: 1, okIndexes: new Set(), doneBefore: 2 })).toBe(2);
    expect(suggestBoundary({ stepCount: 5, inFlightStepIndex: 3, okIndexes: new Set([2]), doneBefore: 2 })).toBe(3);
  });

  it("gives the step count when every step is ok", () => {
    expect(suggestBoundary({ stepCount: 3, inFlightStepIndex: null, okIndexes: new Set([0, 1, 2]) })).toBe(3);
  });

  it("ignores an in-flight index outside the manifest", () => {
    expect(suggestBoundary({ stepCount: 2, inFlightStepIndex: 7, okIndexes: new Set([0]) })).toBe(1);
  });
});

describe("requiresOperator", () => {
  it("is true only for action and compute", () => {
    expect(STEP_KINDS.filter(requiresOperator)).toEqual(["action", "compute"]);
  });
});

describe("boundaryError", () => {
  it("accepts 0 through the step count", () => {
    expect([0, 3, 5].map((b) => boundaryError(5, b))).toEqual([null, null, null]);
  });

  it.each([
    [6, "re_establishment_boundary 6 is past the end of the 5 pinned steps"],
    [-1, "re_establishment_boundary must be a non-negative integer, got -1"],
    [1.5, "re_establishment_boundary must be a non-negative integer, got 1.5"],
    [Number.NaN, "re_establishment_boundary must be a non-negative integer, got NaN"],
  ])("explains why %s cannot be used", (boundary, message) => {
    expect(boundaryError(5, boundary)).toBe(message);
  });
});

describe("replayPlan", () => {
  it("lists the pinned steps from the boundary with absolute indexes and the operator marks", () => {
    expect(replayPlan(pinned, 2)).toEqual([
      { step_index: 2, step: pinned[2], requires_operator: false },
      { step_index: 3, step: pinned[3], requires_operator: true },
      { step_index: 4, step: pinned[4], requires_operator: false },
    ]);
  });

  it("replays everything from 0 and nothing from the end", () => {
    expect(replayPlan(pinned, 0).map((item) => item.step_index)).toEqual([0, 1, 2, 3, 4]);
    expect(replayPlan(pinned, 0)[1]).toEqual({ step_index: 1, step: pinned[1], requires_operator: true });
    expect(replayPlan(pinned, 5)).toEqual([]);
  });

  it("hands out copies, so a caller cannot alter the pinned list", () => {
    const plan = replayPlan(pinned, 1);
    (plan[0]!.step.params as { ms: number }).ms = 99;
    expect(pinned[1]).toEqual({ kind: "action", name: "open_shutter", params: { ms: 5 } });
  });

  it("throws on a boundary the shell should have refused", () => {
    expect(() => replayPlan(pinned, 6)).toThrow(RangeError);
    expect(() => replayPlan(pinned, -1)).toThrow("non-negative integer");
  });
});
