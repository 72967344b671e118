import { describe, expect, it } from "vitest";
import { matches, notificationsOf, slackBody, standardBody, type Interest, type Notification } from "../../../src/notify/events";
import type { ProcedureEvent } from "../../../src/procedure/events";
import { evolve } from "../../../src/procedure/state";
import { overdueDecisionId, stepOverdueDecision } from "../../../src/watcher/deadline";

const ID = "01936b2e-8f0a-7c3d-9e4f-0a1b2c3d4e5f";
const AT = "2026-11-21T05:00:00.000Z";
const registered: ProcedureEvent = {
  type: "ProcedureRegistered",
  payload: { procedure_id: ID, occurred_at: AT, name: "alignment", kind: "calibration", target_asset_ids: ["a1", "a2"] },
};
const started: ProcedureEvent = { type: "ProcedureStarted", payload: { procedure_id: ID, occurred_at: AT, on_failure: "hold" } };
const running = evolve(evolve(null, registered), started);
const held: ProcedureEvent = {
  type: "ProcedureHeld",
  payload: { procedure_id: ID, occurred_at: AT, reason: "check[1] stage.x failed: OutOfTolerance: 1.7", cause: "step-fault", claim_id: ID },
};

function interest(overrides: Partial<Interest> = {}): Interest {
  return { event_types: ["procedure.held"], filter_kind: null, filter_target_asset_id: null, scope_target_asset_ids: null, ...overrides };
}

describe("notificationsOf", () => {
  it("names each transition by the procedure and its version, and ignores the rest", () => {
    const logbook: ProcedureEvent = { type: "ProcedureActivitiesLogbookOpened", payload: { procedure_id: ID, occurred_at: AT, logbook_id: ID } };
    const out = notificationsOf(running, [logbook, held], null);
    expect(out).toEqual([
      {
        webhook_id: `msg_${ID}_v4`,
        type: "procedure.held",
        timestamp: AT,
        data: expect.objectContaining({ procedure_id: ID, name: "alignment", status: "Held", version: 4, reason: held.payload.reason }),
        subject: { procedure_id: ID, kind: "calibration", target_asset_ids: ["a1", "a2"] },
      },
    ]);
    expect(notificationsOf(running, [logbook, held], null)).toEqual(out);
    expect(notificationsOf(null, [registered, started], null)).toEqual([]);
  });

  it("adds a step_failed beside the hold a failed step caused", () => {
    const out = notificationsOf(running, [held], { step_index: 1, error_class: "OutOfTolerance" });
    expect(out.map((n) => [n.type, n.webhook_id])).toEqual([
      ["procedure.step_failed", `msg_${ID}_v3_step_failed`],
      ["procedure.held", `msg_${ID}_v3`],
    ]);
    expect(out[0]!.data).toMatchObject({ step_index: 1, error_class: "OutOfTolerance", status: "Held" });
  });
});

describe("notificationsOf: a step past its deadline", () => {
  it("announces procedure.step_overdue with the decision as data, under the decision's id", () => {
    const attempt = { step_index: 2, in_flight_at: "2026-11-21T04:59:30.000Z" };
    const decisionId = overdueDecisionId(ID, attempt);
    const overdue: ProcedureEvent = {
      type: "ProcedureStepOverdue",
      payload: { procedure_id: ID, occurred_at: AT, ...attempt, deadline_seconds: 30, decision_id: decisionId },
    };
    expect(notificationsOf(running, [overdue], null)).toEqual([
      {
        webhook_id: `msg_${decisionId}`,
        type: "procedure.step_overdue",
        timestamp: AT,
        data: stepOverdueDecision(ID, attempt, 30, Date.parse(AT)),
        subject: { procedure_id: ID, kind: "calibration", target_asset_ids: ["a1", "a2"] },
      },
    ]);
    expect(slackBody(notificationsOf(running, [overdue], null)[0]!, "https://edge.example")).toContain("has a step past its deadline");
  });
});

describe("matches", () => {
  const [notification] = notificationsOf(running, [held], null) as [Notification];
  const ping: Notification = { webhook_id: "msg_p", type: "ping", timestamp: AT, data: {}, subject: null };

  it("takes the event types, the kind, the target asset and the creator's scope into account", () => {
    expect(matches(interest(), notification)).toBe(true);
    expect(matches(interest({ event_types: ["procedure.completed"] }), notification)).toBe(false);
    expect(matches(interest({ filter_kind: "calibration" }), notification)).toBe(true);
    expect(matches(interest({ filter_kind: "alignment" }), notification)).toBe(false);
    expect(matches(interest({ filter_target_asset_id: "a2" }), notification)).toBe(true);
    expect(matches(interest({ filter_target_asset_id: "a3" }), notification)).toBe(false);
    expect(matches(interest({ scope_target_asset_ids: ["a3", "a1"] }), notification)).toBe(true);
    expect(matches(interest({ scope_target_asset_ids: ["a3"] }), notification)).toBe(false);
  });

  it("never fans a ping out by filter", () => {
    expect(matches(interest({ event_types: ["ping"], filter_kind: "calibration" }), ping)).toBe(false);
  });
});

describe("bodies", () => {
  const [notification] = notificationsOf(running, [held], null) as [Notification];

  it("signs {type, timestamp, data} in the standard format", () => {
    expect(JSON.parse(standardBody(notification))).toEqual({ type: "procedure.held", timestamp: AT, data: notification.data });
  });

  it("names the procedure, what happened and why in Slack's format, with the configured console link", () => {
    const body = JSON.parse(slackBody(notification, "https://lab.example.org/console"));
    expect(body.text).toBe(
      `Procedure *alignment* is held: ${held.payload.reason} <https://lab.example.org/console#/procedures/${ID}|Open in the console>`,
    );
    expect(body.blocks).toHaveLength(2);
  });

  it("carries no link when no console URL is configured", () => {
    const body = JSON.parse(slackBody(notification, null));
    expect(body.text).toBe(`Procedure *alignment* is held: ${held.payload.reason}`);
    expect(JSON.stringify(body)).not.toContain("console#");
  });
});
