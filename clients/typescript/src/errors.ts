// What a call can fail with: the service's refusal (a problem with its
// error_class), or no answer at all after the retries the call was allowed.
import type { Problem } from "./types.ts";

/**
 * The service's closed set of error classes, plus `UnexpectedResponse` for an
 * answer that is not a problem document (a proxy's error page, say).
 */
export type ErrorClass = Problem["error_class"] | "UnexpectedResponse";

/**
 * A problem document as the client hands it on: the service's, or one made for
 * an unexpected answer (whose `request_id` is the X-Request-Id header, if any).
 */
export type ClientProblem = Omit<Problem, "error_class" | "request_id"> & { error_class: ErrorClass; request_id: string | null };

/** The service refused the request: `error_class` is the problem's fixed class. */
export class ProblemError extends Error {
  readonly status: number;
  readonly error_class: ErrorClass;
  /** The request's id: quote it when reporting the problem. */
  readonly request_id: string | null;
  readonly problem: ClientProblem;

  constructor(problem: ClientProblem) {
    super(`${problem.error_class}: ${problem.detail}`);
    this.name = "ProblemError";
    this.status = problem.status;
    this.error_class = problem.error_class;
    this.request_id = problem.request_id;
    this.problem = problem;
  }
}

/** No answer from the service (connection lost, timeout) after the allowed attempts. */
export class NetworkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NetworkError";
  }
}

/** True when `error` is the service's refusal, of `errorClass` when one is given. */
export function isProblem(error: unknown, errorClass?: ErrorClass): error is ProblemError {
  return error instanceof ProblemError && (errorClass === undefined || error.error_class === errorClass);
}

/** A problem for an answer that is not a problem document (a proxy's page, say). */
export async function problemOf(response: Response): Promise<ProblemError> {
  const text = await response.text();
  if ((response.headers.get("content-type") ?? "").includes("json")) {
    try {
      const body = JSON.parse(text) as Partial<Problem>;
      if (typeof body.error_class === "string") {
        return new ProblemError({
          type: body.type ?? "about:blank",
          title: body.title ?? response.statusText,
          status: body.status ?? response.status,
          detail: body.detail ?? "",
          error_class: body.error_class,
          ...(body.errors ? { errors: body.errors } : {}),
          request_id: body.request_id ?? response.headers.get("x-request-id"),
        });
      }
    } catch {
      // not JSON after all: fall through
    }
  }
  return new ProblemError({
    type: "about:blank",
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: text.slice(0, 500),
    error_class: "UnexpectedResponse",
    request_id: response.headers.get("x-request-id"),
  });
}
