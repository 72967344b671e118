import { describe, expect, it } from "vitest";
import { currentEpisode, listedAsStalled, openStallDecisionId, stallAct, type StallRecord } from "../../../src/watcher/act";
import { at, build, cmd, NOW } from "../procedure/fixtures";

const conductHold = () => ({ ...cmd.conduct(), on_stall: "hold" as const });
const DECISION = "01900000-0000-7000-8000-0000000000dd";

describe("stallAct", () => {
  it("holds only a Running procedure conducted with on_stall: hold, and only with the grant", () => {
    const running = build([cmd.register(), conductHold()]).state!;
    expect(running.on_stall).toBe("hold");
    expect(stallAct(running, true)).toBe("hold");
    expect(stallAct(running, false)).toBe("denied");
  });
  it("only flags a procedure conducted without it (the default)", () => {
    expect(stallAct(build([cmd.register(), cmd.conduct()]).state!, true)).toBe("flag");
    expect(stallAct(build([cmd.register(), cmd.start()]).state!, true)).toBe("flag");
  });
  it("never acts on a Held procedure, whoever holds it", () => {
    for (const cause of ["operator", "step-fault", "driver-stand-down", "stall"] as const) {
      expect(stallAct(build([cmd.register(), conductHold(), cmd.hold(cause)]).state!, true)).toBe("flag");
    }
  });
  it("reads a snapshot from before on_stall as flag", () => {
    const { on_stall: _gone, ...old } = build([cmd.register(), conductHold()]).state!;
    expect(stallAct(old, true)).toBe("flag");
  });
});

describe("openStallDecisionId", () => {
  const running = build([cmd.register(), conductHold()]);
  const startedAt = at(1);
  const record: StallRecord = { decision_id: DECISION, last_progress_at: startedAt, acted: null, held_at: null, not_acted: null };

  it("names the decision while the episode lasts", () => {
    expect(currentEpisode(running.state!, null)).toBe(startedAt);
    expect(openStallDecisionId(record, running.state!, null)).toBe(DECISION);
    expect(openStallDecisionId(null, running.state!, null)).toBeNull();
  });
  it("is null once activity follows the episode", () => {
    expect(openStallDecisionId(record, running.state!, NOW)).toBeNull();
  });
  it("survives the watcher's own hold, and closes on the resume that follows", () => {
    const held = build([cmd.hold("stall")], running);
    const acted = { ...record, acted: "hold" as const, held_at: held.state!.last_status_changed_at };
    expect(openStallDecisionId(acted, held.state!, null)).toBe(DECISION);
    // Without the record of its own hold, the hold would read as progress.
    expect(openStallDecisionId(record, held.state!, null)).toBeNull();
    const resumed = build([cmd.resume("operator")], held);
    expect(openStallDecisionId(acted, resumed.state!, null)).toBeNull();
  });
  it("is null for a procedure out of conduct", () => {
    const completed = build([cmd.complete()], running);
    const sameTime = { ...record, last_progress_at: completed.state!.last_status_changed_at! };
    expect(openStallDecisionId(sameTime, completed.state!, null)).toBeNull();
  });
  it("ignores activity on a Held procedure, as the watcher does", () => {
    const held = build([cmd.hold("operator")], running);
    const episode = { ...record, last_progress_at: held.state!.last_status_changed_at! };
    expect(openStallDecisionId(episode, held.state!, NOW)).toBe(DECISION);
  });
});

describe("listedAsStalled", () => {
  it("follows the projection's flag", () => {
    expect(listedAsStalled({ status: "Running", hold_causes: [], stalled: true })).toBe(true);
    expect(listedAsStalled({ status: "Running", hold_causes: [], stalled: false })).toBe(false);
    expect(listedAsStalled({ status: "Defined", hold_causes: [], stalled: null })).toBe(false);
  });
  it("keeps a procedure the watcher held stalled, though its hold moved the projection's episode", () => {
    expect(listedAsStalled({ status: "Held", hold_causes: ["stall"], stalled: false })).toBe(true);
    expect(listedAsStalled({ status: "Held", hold_causes: ["operator", "stall"], stalled: false })).toBe(true);
  });
  it("leaves other holds to the projection's flag", () => {
    for (const cause of ["operator", "step-fault", "driver-stand-down"]) {
      expect(listedAsStalled({ status: "Held", hold_causes: [cause], stalled: false })).toBe(false);
    }
  });
});
