// How the console names pinned steps (no browser needed): one numbering, the
// API's step_index from 0, everywhere a step is named.
import { describe, expect, it } from "vitest";
import { readableReason, replayWords, stepLabel } from "../../assets/console/steps";

describe("step names", () => {
  it("name a step by its index from 0, then its kind", () => {
    expect(stepLabel(0)).toBe("#0");
    expect(stepLabel(2, "check")).toBe("#2 check");
  });

  it("turn the service's kind[idx] of a failed step into the same name, and leave other reasons as they are", () => {
    expect(readableReason("check[2] oven.zone_a failed: OutOfTolerance: 117.2")).toBe("#2 check oven.zone_a failed: OutOfTolerance: 117.2");
    expect(readableReason("compute[0] failed: ToolError: exit 1")).toBe("#0 compute failed: ToolError: exit 1");
    expect(readableReason("door opened; see check[2]")).toBe("door opened; see check[2]");
  });
});

describe("what a replay keeps", () => {
  it("says every step runs again from #0, never what stays done before it", () => {
    expect(replayWords(0, 4)).toBe("Every pinned step runs again, from #0 on, exactly as pinned.");
    expect(replayWords(0, 4)).not.toMatch(/before/);
  });

  it("names the steps that stay done and where the replay starts", () => {
    expect(replayWords(1, 4)).toBe("#0 stays done; the pinned steps run again from #1 on, exactly as pinned.");
    expect(replayWords(3, 4)).toBe("#0 to #2 stay done; the pinned steps run again from #3 on, exactly as pinned.");
  });

  it("says a boundary past the last step completes the procedure", () => {
    expect(replayWords(4, 4)).toMatch(/nothing runs again, and the procedure completes/);
  });
});
