// Live progress: GET /v1/procedures/{id}/stream and the stream tickets that let
// a browser open it. The route authorizes like a read of the procedure, then
// hands the request to the procedure's own object, which holds the feed (its
// event log and logbook) and the subscribers. That is the object's one `fetch`:
// an SSE body and a hibernatable WebSocket are long-lived responses that RPC
// cannot return.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { isAuthorized, STREAM_COMMANDS, type Principal } from "../auth/grants";
import { principalHoldingToken } from "../auth/principals";
import { STREAM_TICKET_TTL_MS, TICKET_SHAPE, type TicketHolder } from "../live/tickets";
import type { Refusal } from "../procedure/refusal";
import { AFTER_HEADER, PRINCIPAL_HEADER, REFUSAL_HEADER, type Subscriber } from "../live/wire";
import { createRouter, type AppEnv } from "./app";
import { requires } from "./auth";
import { problemResponses, ProblemError } from "./problem";
import { addressLimited, withinAddressBudget } from "./rate-limit";
import { actorOf, procedureObject, unwrap } from "./procedure-stub";
import { BEARER, ProcedureIdParam, Timestamp, jsonResponse } from "./schemas";

const STREAM_ID = /^\d{1,15}\.\d{1,15}(\.state)?$/;

const StreamId = z
  .string()
  .regex(STREAM_ID)
  .openapi({ description: "A message id this stream gave out; the stream resumes right after it", example: "12.40" });

// Any text: a ticket of the wrong shape is 401 like an unknown one, never a validation error.
const Ticket = z.string();

/**
 * One event of the SSE stream, as an EventSource parser reads it (the schema
 * each event is validated against, not the raw text): `data` is JSON text.
 */
const StreamEvent = z
  .object({
    id: z.string().regex(STREAM_ID).optional().openapi({ description: "The position after this message; absent on the final `error`" }),
    event: z.string().openapi({ description: "`state`, an event type (`ProcedureHeld`, …), `activity`, or a final `error`", example: "state" }),
    data: z.string().openapi({ description: "JSON: the state, the event, `{items[]}`, or `{reason, detail}` for `error`", contentMediaType: "application/json" } as never),
  })
  .openapi("StreamEvent", {
    description: "One Server-Sent Event of the stream (comment lines, the keepalives, are not events)",
    example: { id: "3.0.state", event: "state", data: '{"procedure_id":"…","status":"Running"}' },
  });

const stream = createRoute({
  method: "get",
  path: "/v1/procedures/{id}/stream",
  operationId: "streamProcedure",
  summary: "Follow a procedure live (Server-Sent Events, or a WebSocket on upgrade)",
  description: [
    "With `Accept: text/event-stream`: Server-Sent Events. First `event: state` (the procedure as GET /v1/procedures/{id} shows it);",
    "then, per committed command, one message per appended event (`event:` its type, `data:` the event as /events shows it) and a fresh `state`;",
    "each accepted activity batch is `event: activity` with `data: {items[]}` (split so no message passes 256 KiB).",
    "Every message has an `id`; `Last-Event-ID` (or `?after=`) resumes right after it: the missed events and activity, then the current state.",
    "A `: keepalive` comment comes at least every 30 s. A terminal procedure's stream sends its final state and ends.",
    "With `Upgrade: websocket`: the same messages as JSON `{id, event, data}`; the text `ping` is answered `pong`.",
    "Close codes: 1000 procedure ended, 1008 principal no longer active, 1013 too slow (resume after the last id).",
    "A browser, which cannot set Authorization on a WebSocket, passes a single-use `ticket` from POST …/stream-ticket instead.",
    "The stream carries the events and the logbook, so it needs ReadProcedure, ReadProcedureEvents and ReadProcedureActivities (a gateway is 403).",
    "It is bound to the token that opened it (or asked for its ticket): a rotation, revocation or expiry of that token ends it within 30 s.",
    "Without a bearer token, an unknown, spent, expired or malformed ticket is 401 whether or not the procedure exists, and ticket redemptions are rate limited per client address (429).",
  ].join(" "),
  security: [{ bearer: [] }, { streamTicket: [] }],
  request: {
    params: ProcedureIdParam,
    query: z.strictObject({
      after: StreamId.optional(),
      ticket: Ticket.optional().openapi({ description: "A stream ticket, instead of a bearer token (single use, 60 s)" }),
    }),
    headers: z.object({ "last-event-id": z.string().regex(STREAM_ID).optional() }),
  },
  responses: {
    101: { description: "Switching Protocols: the WebSocket stream" },
    200: {
      description: "The stream of the procedure's messages",
      content: { "text/event-stream": { schema: StreamEvent } },
    },
    ...problemResponses(400, 401, 403, 404, 409, 503),
  },
});

const TicketSchema = z
  .object({
    ticket: Ticket,
    expires_at: Timestamp,
    stream_path: z.string().openapi({ description: "Where to use it: the stream's path with the ticket as a query parameter" }),
  })
  .openapi("StreamTicket");

const ticket = createRoute({
  method: "post",
  path: "/v1/procedures/{id}/stream-ticket",
  operationId: "issueStreamTicket",
  summary: "A single-use ticket that opens this procedure's stream",
  description: `For a browser's WebSocket, which cannot carry an Authorization header. The ticket opens one stream of this procedure as the caller, once, within ${STREAM_TICKET_TTL_MS / 1000} s.`,
  security: BEARER,
  middleware: [requires(...STREAM_COMMANDS)],
  request: { params: ProcedureIdParam },
  responses: { 201: jsonResponse("The ticket", TicketSchema), ...problemResponses(400, 401, 403, 404) },
});

const UNKNOWN_TICKET = "the stream ticket is unknown, spent or expired";

/**
 * Who is watching: the bearer token's principal, else the ticket's (spent here), with the token
 * it is bound to, still current and allowed to read everything the stream carries. The ticket
 * path has no principal to limit, so it spends its client address's budget before it reaches
 * the object, and answers an unknown procedure exactly as an unknown ticket.
 */
async function subscriberOf(c: Context<AppEnv>, id: string, ticket: string | undefined): Promise<{ principal: Principal; token_hash: string }> {
  let principal = c.get("principal") as Principal | undefined;
  let token_hash = c.get("token_hash") as string | undefined;
  if (!principal || token_hash === undefined) {
    if (ticket === undefined) throw new ProblemError("Unauthenticated", "an Authorization: Bearer token or a stream ticket is required");
    if (!(await withinAddressBudget(c))) throw addressLimited("stream tickets");
    if (!TICKET_SHAPE.test(ticket)) throw new ProblemError("Unauthenticated", UNKNOWN_TICKET);
    const redeemed = await procedureObject(c.env, id).redeemStreamTicket(ticket);
    if (!redeemed.ok) throw new ProblemError("Unauthenticated", UNKNOWN_TICKET);
    const holder: TicketHolder = redeemed.value;
    principal = (await principalHoldingToken(c.var.db, c.var.config.adminToken, holder.principal_id, holder.token_hash, Date.now())) ?? undefined;
    if (!principal) throw new ProblemError("Unauthenticated", "the token that asked for this stream ticket was revoked, rotated or expired");
    token_hash = holder.token_hash;
  }
  const missing = STREAM_COMMANDS.find((command) => !isAuthorized(principal, command));
  if (missing) throw new ProblemError("Forbidden", `principal ${principal.principal_id} may not ${missing}, and a stream carries what it reads`);
  return { principal, token_hash };
}

export const streamRoutes = createRouter()
  .openapi(stream, async (c) => {
    // Validated by the route's schemas; read raw, as the typed accessors do not type-check for this route.
    const id = c.req.param("id")!;
    const { principal, token_hash } = await subscriberOf(c, id, c.req.query("ticket"));
    // The header wins: a reconnecting EventSource sends it, while its URL still carries the first ?after=.
    const resumeAfter = c.req.header("last-event-id") ?? c.req.query("after");
    const subscriber: Subscriber = { principal_id: principal.principal_id, token_hash, scopes: principal.scopes };
    const headers = new Headers({ [PRINCIPAL_HEADER]: JSON.stringify(subscriber) });
    if (resumeAfter) headers.set(AFTER_HEADER, resumeAfter);
    const upgrade = c.req.header("upgrade");
    if (upgrade) headers.set("upgrade", upgrade);
    const answer = await procedureObject(c.env, id).fetch(new Request(`https://procedure.internal/stream`, { headers }));
    if (answer.headers.has(REFUSAL_HEADER)) throw ProblemError.from((await answer.json()) as Refusal);
    return passThrough(answer);
  })
  .openapi(ticket, async (c) => {
    const { id } = c.req.valid("param");
    const holder = { principal_id: c.var.principal.principal_id, token_hash: c.var.token_hash };
    const issued = await unwrap(procedureObject(c.env, id).issueStreamTicket(holder, actorOf(c)));
    return c.json({ ...issued, stream_path: `/v1/procedures/${id}/stream?ticket=${encodeURIComponent(issued.ticket)}` }, 201);
  });

/**
 * The object's stream answer as the Worker's own response (its headers
 * mutable, for the correlation id). Typed as no declared response: the
 * OpenAPI types cannot name a 101 with a WebSocket or a streamed body.
 */
function passThrough(answer: Response): Response {
  const response = answer.webSocket
    ? new Response(null, { status: 101, webSocket: answer.webSocket })
    : new Response(answer.body, { status: answer.status, headers: answer.headers });
  return response;
}
