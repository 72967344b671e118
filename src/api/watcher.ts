// The stall watcher's status: its configuration, its agent and its last tick.
import { RETAINED_TABLES } from "../retention/policy";
import { createRoute, z } from "@hono/zod-openapi";
import { isAuthorized, WATCHER_COMMANDS } from "../auth/grants";
import { activePrincipalById } from "../auth/principals";
import { findActor } from "../db/actors";
import { recentTicks, RECENT_TICKS } from "../db/operations";
import { readWatcherState } from "../db/watcher-state";
import { WATCHER_AGENT } from "../watcher/stall";
import { createRouter } from "./app";
import { requires } from "./auth";
import { problemResponses } from "./problem";
import { BEARER, jsonResponse, Timestamp } from "./schemas";

const TickSchema = z
  .object({
    started_at: Timestamp,
    duration_ms: z.number(),
    outcome: z.enum(["disabled", "agent-missing", "agent-inactive", "denied", "ran"]),
    candidates: z.number().int(),
    rescued: z.number().int(),
    deferred: z.number().int(),
    flagged: z.number().int(),
    acted: z.number().int().optional().openapi({ description: "Stalls the watcher also held (procedures conducted with on_stall: hold)" }),
    already_flagged: z.number().int().optional(),
    skipped: z.number().int().optional(),
    pages: z.number().int(),
    rows_read: z.number().int().optional(),
    capped: z.boolean().optional().openapi({ description: "The tick stopped at max_candidates; the next tick goes on" }),
    failures: z.number().int().optional().openapi({ description: "Candidates whose read or write failed; the next tick judges them again" }),
    archive: z
      .object({
        candidates: z.number().int(),
        requested: z.number().int(),
        not_due: z.number().int(),
        failures: z.number().int(),
        rows_read: z.number().int(),
        rows_written: z.number().int(),
      })
      .optional()
      .openapi({ description: "The tick's archive pass: finished procedures whose objects were asked to archive themselves" }),
    retention: z
      .array(
        z.object({
          table: z.enum(RETAINED_TABLES),
          deleted: z.number().int(),
          rows_read: z.number().int(),
          rows_written: z.number().int(),
          error: z.string().optional(),
        }),
      )
      .optional()
      .openapi({ description: "The tick's retention batches, one per table: rows deleted, read and written" }),
  })
  .openapi("WatcherTick");

const RecentTickSchema = z
  .object({
    started_at: Timestamp,
    outcome: z.string(),
    duration_ms: z.number().int(),
    rows_read: z.number().int(),
    candidates: z.number().int(),
    flagged: z.number().int(),
    acted: z.number().int().openapi({ description: "Holds the watcher placed on stalled procedures that asked for it" }),
    archived: z.number().int().openapi({ description: "Finished procedures archived" }),
    failures: z.number().int(),
  })
  .openapi("WatcherRecentTick");

const watcher = createRoute({
  method: "get",
  path: "/v1/watcher",
  operationId: "readWatcher",
  summary: "The stall watcher's configuration, agent and last tick",
  security: BEARER,
  middleware: [requires("ReadWatcher")],
  responses: {
    200: jsonResponse(
      "The watcher's status",
      z
            .object({
              enabled: z.boolean(),
              stale_after_seconds: z.number().int(),
              held_stale_after_seconds: z.number().int(),
              max_candidates: z.number().int(),
              agent: z.object({
                actor_id: z.string(),
                kind: z.string(),
                rule: z.string(),
                present: z.boolean(),
                active: z.boolean(),
                authorized: z.boolean(),
              }),
              denied_since: Timestamp.nullable(),
              last_tick: TickSchema.nullable(),
              recent_ticks: z.array(RecentTickSchema).openapi({
                description: `The watcher's latest ticks, newest first (at most ${RECENT_TICKS}); ticks are kept for a day. A disabled watcher's tick is kept only when its archive pass or a retention batch archived, deleted or failed at something`,
              }),
            })
            .openapi("Watcher"),
    ),
    ...problemResponses(400, 401, 403),
  },
});

export const watcherRoutes = createRouter().openapi(watcher, async (c) => {
    const { watcher: config } = c.var.config;
    const [actor, principal, memory, ticks] = await Promise.all([
      findActor(c.var.db, WATCHER_AGENT.id),
      activePrincipalById(c.var.db, WATCHER_AGENT.id, Date.now()),
      readWatcherState(c.var.db),
      recentTicks(c.var.db),
    ]);
    return c.json(
      {
        enabled: config.enabled,
        stale_after_seconds: config.staleAfterSeconds,
        held_stale_after_seconds: config.heldStaleAfterSeconds,
        max_candidates: config.maxCandidates,
        agent: {
          actor_id: WATCHER_AGENT.id,
          kind: WATCHER_AGENT.name,
          rule: WATCHER_AGENT.rule,
          present: actor !== null,
          active: actor?.active ?? false,
          authorized: principal !== null && WATCHER_COMMANDS.every((command) => isAuthorized(principal, command)),
        },
        denied_since: memory.denied_since,
        last_tick: memory.last_tick,
        recent_ticks: ticks,
      },
      200,
    );
  });
