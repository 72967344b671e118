// A typed refusal: the core's "no", named by its error class. The HTTP status
// is the edge's business (src/api/problem.ts).
import type { ErrorClass } from "../errors";

export interface Refusal {
  error_class: ErrorClass;
  detail: string;
}

/** The decider's answer: a value or a refusal. (A Stall decision is the watcher's stored record, not this.) */
export type Verdict<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

export function refuse<T = never>(error_class: ErrorClass, detail: string): Verdict<T> {
  return { ok: false, refusal: { error_class, detail } };
}

export function accept<T>(value: T): Verdict<T> {
  return { ok: true, value };
}
