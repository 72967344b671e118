// What a subscriber is told, pure: the event types, the notifications a
// committed transition or a Stall decision gives, which subscriptions one
// matches, and the two body formats. No Workers imports: the object, the
// watcher and the queue consumer all build on it.
import type { DecisionRecord } from "../decisions/vocabulary";
import type { ProcedureEvent } from "../procedure/events";
import { stepOverdueDecision } from "../watcher/deadline";
import { evolve, type ProcedureState } from "../procedure/state";
import type { EventType } from "./event-types";

export { EVENT_TYPES, type EventType } from "./event-types";

/** What a filter is judged on: the procedure the notification is about. */
export interface Subject {
  procedure_id: string;
  kind: string;
  target_asset_ids: string[];
}

/**
 * One notification, as it travels through the queue. `webhook_id` is derived
 * from its source (the event id, the decision id), so a redelivery of the
 * same source keeps it and a receiver can deduplicate.
 */
export interface Notification {
  webhook_id: string;
  type: EventType;
  /** When it happened (the event's occurred_at, the decision's recorded_at). */
  timestamp: string;
  data: Record<string, unknown>;
  /** Null for a ping: it is about no procedure. */
  subject: Subject | null;
  /** The request (or watcher tick) that gave it: each delivery sends it as X-Request-Id, and the consumer's lines name it. */
  request_id?: string;
}

/** The transitions a subscriber may hear of, by the event that records them. */
const TRANSITIONS: Partial<Record<ProcedureEvent["type"], EventType>> = {
  ProcedureHeld: "procedure.held",
  ProcedureResumed: "procedure.resumed",
  ProcedureCompleted: "procedure.completed",
  ProcedureAborted: "procedure.aborted",
  ProcedureTruncated: "procedure.truncated",
};

/** A step's failure as the gateway reported it, when the batch that carried it changed the status. */
export interface StepFailure {
  step_index: number;
  error_class: string;
}

/** The first failed step a gateway's batch reports: what held or aborted the procedure. */
export function failedStep(entries: ReadonlyArray<{ payload: Record<string, unknown> }>): StepFailure | null {
  const failed = entries.find((e) => e.payload.result === "failed" && typeof e.payload.step_index === "number");
  return failed ? { step_index: failed.payload.step_index as number, error_class: String(failed.payload.error_class ?? "") } : null;
}

/**
 * The notifications of one commit: one per transition event, plus a
 * `procedure.step_failed` when a failed step held or aborted the procedure.
 * `before` is the state the events apply to. Ids come from the procedure and
 * the event's version, so the same commit always yields the same ids.
 */
export function notificationsOf(
  before: ProcedureState | null,
  events: readonly ProcedureEvent[],
  failure: StepFailure | null,
): Notification[] {
  const out: Notification[] = [];
  let state = before;
  for (const event of events) {
    state = evolve(state, event);
    const subject = { procedure_id: state.procedure_id, kind: state.kind, target_asset_ids: state.target_asset_ids };
    if (event.type === "ProcedureStepOverdue") {
      out.push(stepOverdueNotification(event.payload, subject));
      continue;
    }
    const type = TRANSITIONS[event.type];
    if (!type) continue;
    const reason = "reason" in event.payload ? event.payload.reason : null;
    const data = {
      procedure_id: state.procedure_id,
      name: state.name,
      kind: state.kind,
      target_asset_ids: state.target_asset_ids,
      status: state.status,
      version: state.version,
      reason,
      occurred_at: event.payload.occurred_at,
    };
    const id = `msg_${state.procedure_id}_v${state.version}`;
    if (failure && (event.type === "ProcedureHeld" || event.type === "ProcedureAborted")) {
      const timestamp = event.payload.occurred_at;
      out.push({ webhook_id: `${id}_step_failed`, type: "procedure.step_failed", timestamp, data: { ...data, ...failure }, subject });
    }
    out.push({ webhook_id: id, type, timestamp: event.payload.occurred_at, data, subject });
  }
  return out;
}

/** The notification of a recorded Stall decision; `data` is the decision. */
export function stallNotification(decision: DecisionRecord, subject: Subject): Notification {
  return { webhook_id: `msg_${decision.id}`, type: "procedure.stalled", timestamp: decision.recorded_at, data: { ...decision }, subject };
}

/**
 * The notification of a StepOverdue decision, from the event that records it
 * in the procedure's log; `data` is the decision, as for a Stall.
 */
export function stepOverdueNotification(
  payload: Extract<ProcedureEvent, { type: "ProcedureStepOverdue" }>["payload"],
  subject: Subject,
): Notification {
  const attempt = { step_index: payload.step_index, in_flight_at: payload.in_flight_at };
  const decision = stepOverdueDecision(payload.procedure_id, attempt, payload.deadline_seconds, Date.parse(payload.occurred_at));
  return { webhook_id: `msg_${decision.id}`, type: "procedure.step_overdue", timestamp: decision.recorded_at, data: { ...decision }, subject };
}

export function pingNotification(id: string, subscriptionId: string, now: string): Notification {
  return { webhook_id: `msg_${id}`, type: "ping", timestamp: now, data: { subscription_id: subscriptionId }, subject: null };
}

/** What a subscription listens for. */
export interface Interest {
  event_types: readonly string[];
  filter_kind: string | null;
  filter_target_asset_id: string | null;
  /** The creating principal's scope: nothing about a procedure outside it. Null: no scope. */
  scope_target_asset_ids: readonly string[] | null;
}

/** True when the subscription wants this notification. */
export function matches(interest: Interest, notification: Notification): boolean {
  if (!interest.event_types.includes(notification.type)) return false;
  const subject = notification.subject;
  if (interest.filter_kind !== null && subject?.kind !== interest.filter_kind) return false;
  if (interest.filter_target_asset_id !== null && !subject?.target_asset_ids.includes(interest.filter_target_asset_id)) return false;
  const scope = interest.scope_target_asset_ids;
  if (scope !== null && subject !== null && !subject.target_asset_ids.some((asset) => scope.includes(asset))) return false;
  return true;
}

/** The standard body: what the Standard Webhooks signature covers. */
export function standardBody(notification: Notification): string {
  return JSON.stringify({ type: notification.type, timestamp: notification.timestamp, data: notification.data });
}

const HEADLINES: Record<EventType, string> = {
  "procedure.stalled": "has stalled",
  "procedure.held": "is held",
  "procedure.resumed": "resumed",
  "procedure.completed": "completed",
  "procedure.aborted": "was aborted",
  "procedure.truncated": "was truncated",
  "procedure.step_failed": "had a step fail",
  "procedure.step_overdue": "has a step past its deadline",
  ping: "",
};

/** Slack's mrkdwn treats these three as markup; everything else is sent as written. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * A Slack incoming-webhook body: which procedure, what happened and why, and a
 * link to it in the console at `consoleUrl` (the configured PUBLIC_CONSOLE_URL,
 * never a host a request named); with no console URL, no link.
 */
export function slackBody(notification: Notification, consoleUrl: string | null): string {
  if (notification.type === "ping") {
    return JSON.stringify({ text: "procedure-edge: test notification (ping). This subscription is set up." });
  }
  const data = notification.data;
  const procedureId = String(notification.subject?.procedure_id ?? data.procedure_id ?? data.subject_id ?? "");
  const name = typeof data.name === "string" ? data.name : procedureId;
  const why = typeof data.reason === "string" ? data.reason : typeof data.reasoning === "string" ? data.reasoning : null;
  const link = consoleUrl === null ? null : `${consoleUrl}#/procedures/${encodeURIComponent(procedureId)}`;
  const headline = `Procedure *${escapeSlack(name)}* ${HEADLINES[notification.type]}`;
  const text = `${headline}${why ? `: ${escapeSlack(why)}` : ""}${link ? ` <${link}|Open in the console>` : ""}`;
  return JSON.stringify({
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `${headline}${why ? `\n>${escapeSlack(why)}` : ""}` } },
      {
        type: "context",
        elements: [{ type: "mrkdwn", text: `${notification.type} · ${notification.timestamp} · ${link ? `<${link}|${procedureId}>` : procedureId}` }],
      },
    ],
  });
}
