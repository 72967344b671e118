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
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

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

  response(): Response {
    return new Response(JSON.stringify(this.body()), {
      status: this.status,
      headers: { "content-type": "application/problem+json" },
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
