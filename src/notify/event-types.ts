// The notification event types a subscription may ask for: on their own, with
// no imports, so the console's subscription form offers exactly these.
export const EVENT_TYPES = [
  "procedure.stalled",
  "procedure.held",
  "procedure.resumed",
  "procedure.completed",
  "procedure.aborted",
  "procedure.truncated",
  "procedure.step_failed",
  "procedure.step_overdue",
  "ping",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];
