// Idempotency keys for registration: the first request under a key claims a
// procedure id; a retry with the same key and principal finds that claim.
import { and, eq } from "drizzle-orm";
import type { Database } from "./client";
import { idempotencyKeys } from "./schema";

export type IdempotencyClaim = typeof idempotencyKeys.$inferSelect;

/**
 * Claims `claim.idempotency_key` for its principal unless a claim exists, and returns the claim
 * that holds the key (this one, or an earlier or concurrent one that won).
 */
export async function claimIdempotencyKey(db: Database, claim: IdempotencyClaim): Promise<IdempotencyClaim> {
  await db.insert(idempotencyKeys).values(claim).onConflictDoNothing();
  const winner = await db.query.idempotencyKeys.findFirst({
    where: and(eq(idempotencyKeys.principal_id, claim.principal_id), eq(idempotencyKeys.idempotency_key, claim.idempotency_key)),
  });
  if (!winner) throw new Error("idempotency key vanished after insert");
  return winner;
}
