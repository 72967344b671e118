// RFC 9457 problem details: every refusal the service makes has this shape,
// and this is the one place an error class becomes an HTTP status.
import { z } from "@hono/zod-openapi";
import { cutText } from "../conduct/entries";
import { ERROR_CLASSES, type ErrorClass } from "../errors";
import { REQUEST_ID_HEADER } from "../observability/request-id";
import type { Refusal } from "../procedure/refusal";

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    error_class: z.enum(ERROR_CLASSES),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    request_id: z.string().openapi({ description: "The request's id, as in its X-Request-Id header: quote it when reporting a problem" }),
  })
  .openapi("Problem");

export type Problem = z.infer<typeof ProblemSchema>;

export type ProblemStatus = 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 422 | 429 | 500 | 503;

/** The status each error class answers with. */
export const HTTP_STATUS: Record<ErrorClass, ProblemStatus> = {
  ValidationFailed: 400,
  MalformedRequest: 400,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  InvalidCursor: 400,
  RouteNotFound: 404,
  HttpError: 400,
  /** The body is not UTF-8, a string holds a lone surrogate, or a URL has a malformed %-escape. */
  IllFormedInput: 400,
  /** The JSON body nests deeper than the service reads. */
  NestingTooDeep: 400,
  /** The path exists, the method does not (the `Allow` header lists those that do). */
  MethodNotAllowed: 405,
  Unauthenticated: 401,
  Forbidden: 403,
  IdempotencyKeyReused: 422,
  /** Too many requests from one principal in the limiter's period (`Retry-After` says when to try again). */
  RateLimited: 429,
  ProcedureNotFound: 404,
  ProcedureIdMismatch: 400,
  ProcedureAlreadyExists: 409,
  ProcedureCannotStart: 409,
  ProcedureCannotHold: 409,
  ProcedureCannotResume: 409,
  ProcedureCannotComplete: 409,
  ProcedureCannotAbort: 409,
  ProcedureCannotTruncate: 409,
  ProcedureHoldClaimsRemain: 409,
  ProcedureArchived: 409,
  /** An archived procedure's file cannot be read from the ARCHIVE bucket (missing: restore it from a copy). */
  ArchiveUnavailable: 503,
  ProcedureNotConducted: 409,
  InterruptedAtInFuture: 400,
  ReEstablishmentBoundaryInvalid: 400,
  ReplayStepNotAwaitingOperator: 409,
  ManifestNotFound: 404,
  StepResolutionFailed: 422,
  StepResolutionLimitExceeded: 422,
  PseudoaxisSelfReference: 400,
  PseudoaxisNotFound: 404,
  /** A pseudoaxis would name another pseudoaxis, or be named by one: constituents are real addresses. */
  PseudoaxisOfPseudoaxis: 422,
  ProcedureStepsLogbookClosed: 409,
  StepEntryInvalid: 422,
  StepIndexOutOfRange: 422,
  StepKindMismatch: 422,
  StepOutOfOrder: 409,
  AcquisitionResumeRequiresOperator: 409,
  /** An activity entry's payload is larger than one entry may hold. */
  ActivityEntryTooLarge: 413,
  /** A batch repeats an event id with a different entry (kind, payload or sampling time). */
  ActivityEventIdReused: 422,
  ActorNotFound: 404,
  PrincipalNotFound: 404,
  /** The bootstrap admin (the ADMIN_TOKEN secret) or a principal without a token: not revoked or rotated over the API. */
  PrincipalManagedElsewhere: 409,
  /** A revoked principal stays revoked: its token cannot be rotated back to life. */
  PrincipalRevoked: 409,
  /** A scope narrows procedure access; an admin could lift it by creating an unscoped principal. */
  AdminCannotBeScoped: 422,
  DecisionNotFound: 404,
  TemplateNotFound: 404,
  SubscriptionNotFound: 404,
  /** Not https, not http to a local development host, or a host deliveries must not reach (src/notify/webhook-url.ts). */
  WebhookUrlNotAllowed: 422,
  /** The principal already holds as many active subscriptions as one may. */
  SubscriptionLimitReached: 409,
  UnknownEventType: 422,
  DeliveryNotFound: 404,
  /** Only a `failed` delivery whose notification was kept, to a subscription still served, is sent again. */
  DeliveryNotRedeliverable: 409,
  /** The procedure already has as many open streams of that kind as it serves; retry later. */
  StreamWatcherLimitReached: 503,
  /** More followed the id a reconnect names than one replay reads; page /events and /activities instead. */
  StreamReplayTooLong: 409,
  /** A procedure's object is overloaded or briefly unavailable (the runtime marked the error retryable); `Retry-After` says when to try again. */
  ServiceOverloaded: 503,
  InternalError: 500,
};

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** A refusal the edge turns into application/problem+json; thrown from handlers. */
export class ProblemError extends Error {
  readonly status: ProblemStatus;

  constructor(
    readonly error_class: ErrorClass,
    readonly detail: string,
    readonly errors?: Problem["errors"],
    /** Headers the refusal carries (`Retry-After`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(`${error_class}: ${detail}`);
    this.status = HTTP_STATUS[error_class];
  }

  static from(refusal: Refusal): ProblemError {
    return new ProblemError(refusal.error_class, refusal.detail);
  }

  /** The problem document for the request `requestId`. */
  body(requestId: string): Problem {
    return {
      type: `urn:procedure-edge:problem:${this.error_class}`,
      title: TITLES[this.status] ?? "Error",
      status: this.status,
      detail: this.detail,
      error_class: this.error_class,
      ...(this.errors ? { errors: this.errors } : {}),
      request_id: requestId,
    };
  }

  response(requestId: string, headers: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(this.body(requestId)), {
      status: this.status,
      headers: { ...this.headers, ...headers, "content-type": "application/problem+json", [REQUEST_ID_HEADER]: requestId },
    });
  }
}

/**
 * Problem responses for a route's OpenAPI declaration. Every authenticated
 * route (one that may answer 401) is rate limited per principal, so it also
 * declares 429.
 */
export function problemResponses(...declared: number[]) {
  const statuses = declared.includes(401) ? [...new Set([...declared, 429])] : declared;
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: TITLES[status] ?? "Error", content: { "application/problem+json": { schema: ProblemSchema } } },
    ]),
  );
}

/** A refusal lists at most this many offending fields, so its size never follows the request's. */
export const MAX_LISTED_ERRORS = 20;
const MAX_ERROR_TEXT = 300;

type Issue = { path: readonly PropertyKey[]; message: string };

/** The offending fields of a validation failure, capped in count and in length. */
export function listedErrors(issues: readonly Issue[]): NonNullable<Problem["errors"]> {
  return issues.slice(0, MAX_LISTED_ERRORS).map((issue) => ({
    path: cutText(issue.path.map(String).join(".") || "(root)", MAX_ERROR_TEXT),
    message: issue.message.length > MAX_ERROR_TEXT ? `${cutText(issue.message, MAX_ERROR_TEXT)}…` : issue.message,
  }));
}

/** What each validation target is called in a refusal: a body that parsed is well-formed JSON, only its fields are wrong. */
const TARGETS = {
  json: "the JSON body",
  query: "the query string",
  param: "the path",
  header: "a header",
  arguments: "the tool's arguments",
} as const;

/** Where a request's fields were found wrong: a validator's target, or an MCP tool call's arguments. */
export type ValidationTarget = keyof typeof TARGETS;

/**
 * The 400 ValidationFailed problem for `issues` found in a request's `target`
 * (json, query, param, header, or a tool call's arguments): one wording whether
 * a schema found them or a route's own rule did.
 */
export function validationFailed(target: ValidationTarget | "request", issues: readonly Issue[]): ProblemError {
  const more = issues.length - MAX_LISTED_ERRORS;
  // A validator target this service does not use (a cookie, a form) is "the request".
  const where = (TARGETS as Record<string, string>)[target] ?? "the request";
  const listed = more > 0 ? ` (${issues.length} problems; ${more} more are not listed)` : "";
  const detail = `${where} does not match what this route accepts${listed}: see errors[] for each field and what it expects`;
  return new ProblemError("ValidationFailed", detail, listedErrors(issues));
}
