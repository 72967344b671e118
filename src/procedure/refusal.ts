// A typed refusal: the decider's "no", carried to the HTTP edge unchanged.

export type RefusalStatus = 400 | 404 | 409 | 422;

export interface Refusal {
  error_class: string;
  status: RefusalStatus;
  detail: string;
}

export type Decision<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

export function refuse<T = never>(error_class: string, status: RefusalStatus, detail: string): Decision<T> {
  return { ok: false, refusal: { error_class, status, detail } };
}

export function accept<T>(value: T): Decision<T> {
  return { ok: true, value };
}
