// Gateway-side helpers: entries the way an instrument gateway would post them.
import { uuidv7 } from "../src/ids";
import { call, settled } from "./helpers";

export interface EntryOptions {
  step_kind: string;
  step_index?: number;
  result?: "in_flight" | "ok" | "failed";
  error_class?: string;
  message?: string;
  sampled_at?: string;
  event_id?: string;
  payload?: Record<string, unknown>;
}

/** One activity entry. */
export function entry(options: EntryOptions) {
  const payload =
    options.payload ??
    {
      step_index: options.step_index,
      result: options.result ?? "ok",
      ...(options.error_class ? { error_class: options.error_class } : {}),
      ...(options.message !== undefined ? { message: options.message } : {}),
    };
  return {
    event_id: options.event_id ?? uuidv7(),
    step_kind: options.step_kind,
    payload,
    sampled_at: options.sampled_at ?? new Date().toISOString(),
  };
}

/** Posts a batch of entries as `token` (default admin); the projection settled. */
export async function post(id: string, entries: unknown[], token?: string) {
  const result = await call(`/v1/procedures/${id}/activities`, { body: { entries }, token });
  await settled(id);
  return result;
}

/** Conducts a procedure and returns the response; the projection settled. */
export async function conduct(id: string, body: Record<string, unknown>, token?: string) {
  const result = await call(`/v1/procedures/${id}/conduct`, { body, token });
  await settled(id);
  return result;
}

export const STEPS = {
  setpoint: { kind: "setpoint", address: "stage.x", value: 1.5, verify: true },
  action: { kind: "action", name: "open_shutter", params: { speed: "fast" } },
  check: { kind: "check", address: "stage.x", criterion: { kind: "within_tolerance", expected: 1.5, tolerance: 0.01 } },
  capture: { kind: "capture", address: "detector", capture_name: "frame" },
  compute: { kind: "compute", command: ["fit", "--gauss"], input_uris: ["r2://frames/1"], parameters: { order: 2 } },
} as const;
