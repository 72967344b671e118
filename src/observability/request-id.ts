// The request id: what a caller quotes when something went wrong, and what
// every log line, problem body, event and webhook delivery of that request
// names. Pure, so the core's tests can use it.
import { uuidv7 } from "../ids";

/** The header a request id travels in, both ways (and on webhook deliveries). */
export const REQUEST_ID_HEADER = "x-request-id";

/**
 * A caller's id the service takes as its own: 1 to 128 characters of
 * letters, digits and `._:-`, so it is safe to log, to echo in a header and
 * to quote, whatever the caller generates (UUIDs, ULIDs, trace ids).
 */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** True when `value` is a request id the service takes from a caller. */
export function isValidRequestId(value: string): boolean {
  return VALID_REQUEST_ID.test(value);
}

/** The caller's request id when it sent a valid one, else a new UUIDv7. */
export function requestIdFrom(header: string | null | undefined, nowMs: number = Date.now()): string {
  return header !== null && header !== undefined && isValidRequestId(header) ? header : uuidv7(nowMs);
}
