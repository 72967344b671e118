// Live progress: GET /v1/procedures/{id}/stream and the stream tickets that let
// a browser open it. The route authorizes like a read of the procedure, then
// hands the request to the procedure's own object, which holds the feed (its
// event log and logbook) and the watchers. That is the object's one `fetch`:
// an SSE body and a hibernatable WebSocket are long-lived responses that RPC
// cannot return.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { isAuthorized, type Principal } from "../auth/grants";
import { activePrincipalById } from "../auth/principals";
import { STREAM_TICKET_TTL_MS } from "../live/tickets";
import type { Refusal } from "../procedure/refusal";
import { AFTER_HEADER, PRINCIPAL_HEADER, REFUSAL_HEADER, type Watcher } from "../live/wire";
import { createRouter, type AppEnv } from "./app";
import { requires } from "./auth";
import { problemResponses, ProblemError } from "./problem";
import { actorOf, procedureObject, unwrap } from "./procedure-stub";
import { BEARER, ProcedureIdParam, Timestamp, jsonResponse } from "./schemas";

const STREAM_ID = /^\d{1,15}\.\d{1,15}(\.state)?$/;

const StreamId = z
  .string()
  .regex(STREAM_ID)
  .openapi({ description: "A message id this stream gave out; the stream resumes right after it", example: "12.40" });

const Ticket = z.string().min(1).max(200);

/**
 * One Server-Sent Event of the stream, as OpenAPI 3.1 describes an event
 * stream: the schema of `text/event-stream` is that of each event, not of the
 * body as one string. `data` is always one line of JSON.
 */
const StreamEventSchema = z
  .object({
    id: z.string().regex(STREAM_ID).optional().openapi({ description: "The position right after this message; absent on an `error` event" }),
    event: z.string().openapi({ description: "`state`, `activity`, an event type (`ProcedureHeld`, ...), or `error`" }),
    data: z.string().openapi({
      description: "The message as one line of JSON: the procedure's state, `{items[]}` of entries, the event as /events shows it, or `{reason}`",
      example: '{"procedure_id":"…","status":"Running",…}',
    }),
  })
  .openapi("StreamEvent");

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
      content: { "text/event-stream": { schema: StreamEventSchema } },
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
  middleware: [requires("ReadProcedure")],
  request: { params: ProcedureIdParam },
  responses: { 201: jsonResponse("The ticket", TicketSchema), ...problemResponses(400, 401, 403, 404) },
});

/** Who is watching: the bearer token's principal, else the ticket's (spent here), still active and allowed to read. */
async function watcherOf(c: Context<AppEnv>, id: string, ticket: string | undefined): Promise<Principal> {
  let principal = c.get("principal") as Principal | undefined;
  if (!principal) {
    if (ticket === undefined) throw new ProblemError("Unauthenticated", "an Authorization: Bearer token or a stream ticket is required");
    const { principal_id } = await unwrap(procedureObject(c.env, id).redeemStreamTicket(ticket));
    principal = (await activePrincipalById(c.var.db, principal_id, Date.now())) ?? undefined;
    if (!principal) throw new ProblemError("Unauthenticated", "the stream ticket's principal is no longer active");
  }
  if (!isAuthorized(principal, "ReadProcedure")) throw new ProblemError("Forbidden", `principal ${principal.principal_id} may not ReadProcedure`);
  return principal;
}

export const streamRoutes = createRouter()
  .openapi(stream, async (c) => {
    // Validated by the route's schemas; read raw, as the typed accessors do not type-check for this route.
    const id = c.req.param("id")!;
    const principal = await watcherOf(c, id, c.req.query("ticket"));
    // The header wins: a reconnecting EventSource sends it, while its URL still carries the first ?after=.
    const resumeAfter = c.req.header("last-event-id") ?? c.req.query("after");
    const headers = new Headers({ [PRINCIPAL_HEADER]: JSON.stringify({ principal_id: principal.principal_id, scopes: principal.scopes } satisfies Watcher) });
    if (resumeAfter) headers.set(AFTER_HEADER, resumeAfter);
    const upgrade = c.req.header("upgrade");
    if (upgrade) headers.set("upgrade", upgrade);
    const answer = await procedureObject(c.env, id).fetch(new Request(`https://procedure.internal/stream`, { headers }));
    if (answer.headers.has(REFUSAL_HEADER)) throw ProblemError.from((await answer.json()) as Refusal);
    return passThrough(answer);
  })
  .openapi(ticket, async (c) => {
    const { id } = c.req.valid("param");
    const issued = await unwrap(procedureObject(c.env, id).issueStreamTicket(actorOf(c).principal_id, actorOf(c)));
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
