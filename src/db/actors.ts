// Actors: who acts (humans, agents, service accounts) and whether they may.
import { eq } from "drizzle-orm";
import type { Database } from "./client";
import { actors } from "./schema";

export type ActorRecord = typeof actors.$inferSelect;

export async function findActor(db: Database, actorId: string): Promise<ActorRecord | null> {
  return (await db.query.actors.findFirst({ where: eq(actors.actor_id, actorId) })) ?? null;
}

/** Sets `active` and returns the actor, or null when there is no such actor. */
export async function setActorActive(db: Database, actorId: string, active: boolean, now: string): Promise<ActorRecord | null> {
  const rows = await db.update(actors).set({ active, updated_at: now }).where(eq(actors.actor_id, actorId)).returning();
  return rows[0] ?? null;
}
