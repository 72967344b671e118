// Actors: who acts (humans, agents, service accounts) and whether they may.
import { eq, sql } from "drizzle-orm";
import { auditStatement } from "./audit";
import type { Database } from "./client";
import { actors } from "./schema";

export type ActorRecord = typeof actors.$inferSelect;

export async function findActor(db: Database, actorId: string): Promise<ActorRecord | null> {
  return (await db.query.actors.findFirst({ where: eq(actors.actor_id, actorId) })) ?? null;
}

/** Sets `active` and records who did it, in one batch; returns the actor, or null when there is no such actor. */
export async function setActorActive(db: Database, actorId: string, active: boolean, now: string, by: { principal_id: string; audit_id: string }): Promise<ActorRecord | null> {
  const update = db.update(actors).set({ active, updated_at: now }).where(eq(actors.actor_id, actorId)).returning();
  const exists = sql`EXISTS (SELECT 1 FROM actors WHERE actor_id = ${actorId})`;
  const action = active ? "actor.activated" : "actor.deactivated";
  const audit = { audit_id: by.audit_id, action, subject_id: actorId, actor_id: by.principal_id, reason: null, occurred_at: now } as const;
  const [rows] = await db.batch([update, auditStatement(db, audit, exists)]);
  return rows[0] ?? null;
}
