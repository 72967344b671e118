import { describe, expect, it } from "vitest";
import {
  type Candidate,
  fold,
  isStalled,
  watchWindow,
  lastProgressAt,
  screen,
  type WatcherConfig,
  windowSeconds,
} from "../../../src/watcher/stall";

const NOW = Date.parse("2026-11-21T05:00:00.000Z");
const CONFIG: WatcherConfig = { enabled: true, staleAfterSeconds: 3600, heldStaleAfterSeconds: 86400 };
const ago = (seconds: number, ms = 0) => new Date(NOW - seconds * 1000 - ms).toISOString();

function candidate(overrides: Partial<Candidate>): Candidate {
  return {
    procedure_id: "01900000-0000-7000-8000-000000000001",
    status: "Running",
    hold_causes: [],
    last_status_changed_at: ago(10),
    last_activity_at: null,
    stale_after_seconds: null,
    ...overrides,
  };
}

describe("isStalled", () => {
  it("counts exactly the window as stalled", () => {
    expect(isStalled(NOW, ago(3600), 3600)).toBe(true);
  });
  it("is fresh one millisecond before the window", () => {
    expect(isStalled(NOW, new Date(NOW - 3600 * 1000 + 1).toISOString(), 3600)).toBe(false);
  });
  it("is stalled well past the window", () => {
    expect(isStalled(NOW, ago(7200), 3600)).toBe(true);
  });
  it("never flags an unreadable time", () => {
    expect(isStalled(NOW, "not-a-time", 3600)).toBe(false);
  });
});

describe("windowSeconds", () => {
  it("uses the Running window for Running", () => {
    expect(windowSeconds("Running", [], CONFIG)).toBe(3600);
  });
  it("uses the held window for a deliberate operator pause", () => {
    expect(windowSeconds("Held", ["operator"], CONFIG)).toBe(86400);
  });
  it("uses the Running window for a step fault", () => {
    expect(windowSeconds("Held", ["step-fault"], CONFIG)).toBe(3600);
  });
  it("uses the Running window for a stood-down driver", () => {
    expect(windowSeconds("Held", ["driver-stand-down"], CONFIG)).toBe(3600);
  });
  it("uses the Running window when an operator claim sits beside a step fault", () => {
    expect(windowSeconds("Held", ["operator", "step-fault"], CONFIG)).toBe(3600);
  });
  it("treats a Held with no claims as a deliberate pause", () => {
    expect(windowSeconds("Held", [], CONFIG)).toBe(86400);
  });
});

describe("watchWindow", () => {
  it("is null out of conduct", () => {
    for (const status of ["Defined", "Completed", "Aborted", "Truncated"]) expect(watchWindow(status, [], 600)).toBeNull();
  });
  it("is the shared Running window without an own window, the own one with it", () => {
    expect(watchWindow("Running", [], null)).toBe("running");
    expect(watchWindow("Running", [], 600)).toBe("own");
  });
  it("keeps the Held window for a deliberate pause even with an own window", () => {
    expect(watchWindow("Held", ["operator"], 600)).toBe("held");
    expect(watchWindow("Held", [], 600)).toBe("held");
  });
  it("judges a step fault or a stood-down driver like Running", () => {
    expect(watchWindow("Held", ["operator", "step-fault"], null)).toBe("running");
    expect(watchWindow("Held", ["driver-stand-down"], 600)).toBe("own");
  });
});

describe("windowSeconds with an own window", () => {
  it("uses it for Running and for a faulted hold, not for a deliberate pause", () => {
    expect(windowSeconds("Running", [], CONFIG, 600)).toBe(600);
    expect(windowSeconds("Held", ["step-fault"], CONFIG, 600)).toBe(600);
    expect(windowSeconds("Held", ["operator"], CONFIG, 600)).toBe(86400);
  });
  it("screens a candidate on it", () => {
    expect(screen(candidate({ stale_after_seconds: 600, last_status_changed_at: ago(600) }), NOW, CONFIG)).toMatchObject({
      verdict: "needs-activity-read",
      window: 600,
    });
    expect(screen(candidate({ stale_after_seconds: 7200, last_status_changed_at: ago(3600) }), NOW, CONFIG)).toEqual({ verdict: "fresh" });
  });
});

describe("lastProgressAt", () => {
  it("is null when the status time is unknown", () => {
    expect(lastProgressAt(candidate({ last_status_changed_at: null, last_activity_at: ago(5) }))).toBeNull();
  });
  it("takes the later activity mirror for Running", () => {
    expect(lastProgressAt(candidate({ last_status_changed_at: ago(500), last_activity_at: ago(20) }))).toBe(ago(20));
  });
  it("keeps the status time when the mirror is older", () => {
    expect(lastProgressAt(candidate({ last_status_changed_at: ago(20), last_activity_at: ago(500) }))).toBe(ago(20));
  });
  it("ignores the mirror for Held", () => {
    const held = candidate({ status: "Held", last_status_changed_at: ago(500), last_activity_at: ago(20) });
    expect(lastProgressAt(held)).toBe(ago(500));
  });
  it("returns the canonical millisecond form", () => {
    expect(lastProgressAt(candidate({ last_status_changed_at: "2026-11-21T04:00:00Z" }))).toBe(
      "2026-11-21T04:00:00.000Z",
    );
  });
});

describe("screen", () => {
  it.each(["Completed", "Aborted", "Truncated", "Defined"])("skips %s as not in conduct", (status) => {
    expect(screen(candidate({ status, last_status_changed_at: ago(999_999) }), NOW, CONFIG)).toEqual({
      verdict: "skip",
      why: "not-in-conduct",
    });
  });
  it("defers a candidate with no status time", () => {
    expect(screen(candidate({ last_status_changed_at: null }), NOW, CONFIG)).toEqual({
      verdict: "defer",
      why: "no-status-time",
    });
  });
  it("calls a Running within its window fresh", () => {
    expect(screen(candidate({ last_status_changed_at: ago(3599) }), NOW, CONFIG)).toEqual({ verdict: "fresh" });
  });
  it("asks for one activity read before flagging a Running past its window", () => {
    expect(screen(candidate({ last_status_changed_at: ago(3600) }), NOW, CONFIG)).toEqual({
      verdict: "needs-activity-read",
      last_progress_at: ago(3600),
      window: 3600,
    });
  });
  it("counts the activity mirror as progress for Running", () => {
    const live = candidate({ last_status_changed_at: ago(90_000), last_activity_at: ago(60) });
    expect(screen(live, NOW, CONFIG)).toEqual({ verdict: "fresh" });
  });
  it("flags a Held past its window without a read, whatever the mirror says", () => {
    const held = candidate({
      status: "Held",
      hold_causes: ["step-fault"],
      last_status_changed_at: ago(3600),
      last_activity_at: ago(1),
    });
    expect(screen(held, NOW, CONFIG)).toEqual({ verdict: "stalled", last_progress_at: ago(3600), window: 3600 });
  });
  it("gives a deliberate operator pause the held window", () => {
    const paused = (seconds: number) =>
      candidate({ status: "Held", hold_causes: ["operator"], last_status_changed_at: ago(seconds) });
    expect(screen(paused(86399), NOW, CONFIG)).toEqual({ verdict: "fresh" });
    expect(screen(paused(86400), NOW, CONFIG)).toEqual({
      verdict: "stalled",
      last_progress_at: ago(86400),
      window: 86400,
    });
  });
});

describe("fold", () => {
  const screened = { last_progress_at: ago(4000), window: 3600 };

  it("rescues a candidate whose latest activity is recent", () => {
    expect(fold(screened, ago(30), NOW)).toEqual({ verdict: "rescued", last_progress_at: ago(30) });
  });
  it("keeps it stalled when the latest activity is older", () => {
    expect(fold(screened, ago(5000), NOW)).toEqual({ verdict: "stalled", last_progress_at: ago(4000) });
  });
  it("keeps it stalled when there is no activity at all", () => {
    expect(fold(screened, null, NOW)).toEqual({ verdict: "stalled", last_progress_at: ago(4000) });
  });
  it("re-tests with the later time and flags the new episode when that is also past", () => {
    expect(fold(screened, ago(3700), NOW)).toEqual({ verdict: "stalled", last_progress_at: ago(3700) });
  });
  it("counts the boundary as stalled after the fold too", () => {
    expect(fold(screened, ago(3600), NOW)).toEqual({ verdict: "stalled", last_progress_at: ago(3600) });
    expect(fold(screened, ago(3600, -1), NOW)).toEqual({ verdict: "rescued", last_progress_at: ago(3600, -1) });
  });
  it("canonicalises the folded time", () => {
    expect(fold(screened, "2026-11-21T04:59:00Z", NOW)).toEqual({
      verdict: "rescued",
      last_progress_at: "2026-11-21T04:59:00.000Z",
    });
  });
});
