// Refusals over the last hour, from the per-minute counts the service keeps
// in D1 (src/db/operations.ts): what the console's Health page charts, since
// Analytics Engine (where the full metrics go) cannot be read locally.
import { createRoute, z } from "@hono/zod-openapi";
import { ERROR_CLASSES } from "../errors";
import { minuteOf, refusalsSince } from "../db/operations";
import { createRouter } from "./app";
import { requires } from "./auth";
import { HTTP_STATUS, problemResponses } from "./problem";
import { BEARER, jsonResponse, Timestamp } from "./schemas";

/** The window the route answers for. */
export const REFUSAL_WINDOW_MINUTES = 60;

const RefusalsSchema = z
  .object({
    since: Timestamp.openapi({ description: "The first minute counted" }),
    total: z.number().int(),
    rate_limited: z.number().int().openapi({ description: "Of the total, requests refused 429 RateLimited" }),
    by_error_class: z.array(z.object({ error_class: z.enum(ERROR_CLASSES), status: z.number().int(), count: z.number().int() })).openapi({
      description: "Most frequent first",
    }),
    by_minute: z.array(z.object({ minute: Timestamp, count: z.number().int(), rate_limited: z.number().int() })).openapi({
      description: "Only the minutes with a refusal, oldest first",
    }),
  })
  .openapi("Refusals");

const refusals = createRoute({
  method: "get",
  path: "/v1/refusals",
  operationId: "readRefusals",
  summary: "Refusals and rate-limit hits over the last hour, by error class and by minute",
  description:
    "Counted per isolate and added to D1 after the response, so the last seconds may be missing. " +
    "Every refusal counts, 401s and 429s included; the full record is in the METRICS dataset.",
  security: BEARER,
  middleware: [requires("ReadRefusals")],
  responses: { 200: jsonResponse("The last hour's refusals", RefusalsSchema), ...problemResponses(400, 401, 403) },
});

const KNOWN = new Set<string>(ERROR_CLASSES);

export const refusalRoutes = createRouter().openapi(refusals, async (c) => {
  const since = minuteOf(Date.now() - (REFUSAL_WINDOW_MINUTES - 1) * 60_000);
  const rows = (await refusalsSince(c.var.db, since)).filter((row) => KNOWN.has(row.error_class));
  const byClass = new Map<string, number>();
  const byMinute = new Map<string, { minute: string; count: number; rate_limited: number }>();
  for (const row of rows) {
    byClass.set(row.error_class, (byClass.get(row.error_class) ?? 0) + row.count);
    const minute = byMinute.get(row.minute) ?? { minute: row.minute, count: 0, rate_limited: 0 };
    minute.count += row.count;
    if (row.error_class === "RateLimited") minute.rate_limited += row.count;
    byMinute.set(row.minute, minute);
  }
  const by_error_class = [...byClass]
    .map(([error_class, count]) => ({ error_class: error_class as (typeof ERROR_CLASSES)[number], status: HTTP_STATUS[error_class as (typeof ERROR_CLASSES)[number]], count }))
    .sort((a, b) => b.count - a.count || a.error_class.localeCompare(b.error_class));
  return c.json(
    {
      since,
      total: rows.reduce((n, row) => n + row.count, 0),
      rate_limited: byClass.get("RateLimited") ?? 0,
      by_error_class,
      by_minute: [...byMinute.values()],
    },
    200,
  );
});
