// RFC 9457 problem details: every refusal the service makes has this shape.
import { z } from "@hono/zod-openapi";
import type { Refusal } from "../procedure/refusal";

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    error_class: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

export type Problem = z.infer<typeof ProblemSchema>;

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
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/**
 * Error classes of the request-input layer, with their status. Kept together as one list so
 * a closed error vocabulary can take them over as they are.
 */
export const INPUT_ERROR_STATUS = {
  /** The body is not UTF-8, a string holds a lone surrogate, or a URL has a malformed %-escape. */
  IllFormedInput: 400,
  /** The JSON body nests deeper than the service reads. */
  NestingTooDeep: 400,
  /** An activity entry's payload is larger than one entry may hold. */
  ActivityEntryTooLarge: 413,
  /** The path exists, the method does not (the `Allow` header lists those that do). */
  MethodNotAllowed: 405,
  /** A pseudoaxis would name another pseudoaxis, or be named by one: constituents are real addresses. */
  PseudoaxisOfPseudoaxis: 422,
} as const;

export type InputErrorClass = keyof typeof INPUT_ERROR_STATUS;

/** A refusal the edge turns into application/problem+json; thrown from handlers. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly error_class: string,
    readonly detail: string,
    readonly errors?: Problem["errors"],
  ) {
    super(`${error_class}: ${detail}`);
  }

  /** A refusal of the input layer, its status taken from `INPUT_ERROR_STATUS`. */
  static input(error_class: InputErrorClass, detail: string): ProblemError {
    return new ProblemError(INPUT_ERROR_STATUS[error_class], error_class, detail);
  }

  static from(refusal: Refusal): ProblemError {
    return new ProblemError(refusal.status, refusal.error_class, refusal.detail);
  }

  body(): Problem {
    return {
      type: `urn:procedure-edge:problem:${this.error_class}`,
      title: TITLES[this.status] ?? "Error",
      status: this.status,
      detail: this.detail,
      error_class: this.error_class,
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }

  response(headers: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(this.body()), {
      status: this.status,
      headers: { ...headers, "content-type": "application/problem+json" },
    });
  }
}

/** Problem responses for a route's OpenAPI declaration. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: TITLES[status] ?? "Error", content: { "application/problem+json": { schema: ProblemSchema } } },
    ]),
  );
}
