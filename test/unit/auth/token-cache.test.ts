// The per-isolate token cache against a revocation or rotation made while a
// look-up of the same token is in flight: the eviction wins, so the old row is
// neither answered from the cache afterwards nor served for its lifetime.
import { describe, expect, it } from "vitest";
import { forgetPrincipal, hashToken, principalForToken, type PrincipalRecord } from "../../../src/auth/principals";
import type { Database } from "../../../src/db/client";

function row(token_hash: string, revoked_at: string | null): PrincipalRecord {
  return {
    principal_id: "01900000-0000-7000-8000-0000000000aa",
    name: "gateway",
    roles: ["gateway"],
    token_hash,
    created_at: "2026-01-01T00:00:00.000Z",
    scopes: null,
    expires_at: null,
    revoked_at,
    revoked_reason: null,
    rotated_at: null,
  };
}

/** A database whose token look-ups answer only when the test releases them, in order. */
function slowDatabase() {
  const pending: Array<(answer: PrincipalRecord | undefined) => void> = [];
  let reads = 0;
  const db = {
    query: {
      principals: {
        findFirst: () => {
          reads += 1;
          return new Promise<PrincipalRecord | undefined>((resolve) => pending.push(resolve));
        },
      },
    },
  } as unknown as Database;
  const next = async () => {
    for (let i = 0; i < 100 && pending.length === 0; i += 1) await new Promise((r) => setTimeout(r, 0));
    return pending.shift()!;
  };
  return { db, next, reads: () => reads };
}

const ADMIN = "an-admin-token-of-sixteen-chars";

/** A look-up of a fresh token that is still out when its principal is evicted (revoked or rotated here). */
async function overtakenLookUp() {
  const token = `token-${crypto.randomUUID()}`;
  const hash = await hashToken(token);
  const database = slowDatabase();
  const now = Date.now();
  const first = principalForToken(database.db, ADMIN, token, now);
  const answerOld = await database.next();
  forgetPrincipal(row(hash, null).principal_id);
  return { ...database, token, hash, now, first, answerOld };
}

describe("a look-up in flight while its principal is revoked", () => {
  it("is made again after the eviction, so the revoked token is refused and nothing stale is cached", async () => {
    // The revocation commits and evicts while the look-up is still out; then D1 answers with the row as it was.
    const { db, next, reads, token, hash, now, first, answerOld } = await overtakenLookUp();
    answerOld(row(hash, null));
    (await next())(row(hash, "2026-01-01T00:00:01.000Z"));
    expect(await first).toEqual({ refused: "unknown" });
    expect(reads()).toBe(2);

    // Nothing stale was cached: the next request is refused too, without another read.
    expect(await principalForToken(db, ADMIN, token, now + 1)).toEqual({ refused: "unknown" });
    expect(reads()).toBe(2);
  });

  it("is not joined by a request that arrives after the eviction", async () => {
    const { db, next, reads, token, hash, now, first, answerOld } = await overtakenLookUp();
    const second = principalForToken(db, ADMIN, token, now);
    const answerNew = await next();
    answerOld(row(hash, null));
    answerNew(row(hash, "2026-01-01T00:00:01.000Z"));
    // The first look-up was overtaken and joins the fresh one; both see the revocation.
    expect(await second).toEqual({ refused: "unknown" });
    expect(await first).toEqual({ refused: "unknown" });
    expect(reads()).toBe(2);
  });

  it("still caches a look-up no eviction overtook", async () => {
    const token = `token-${crypto.randomUUID()}`;
    const hash = await hashToken(token);
    const { db, next, reads } = slowDatabase();
    const first = principalForToken(db, ADMIN, token, Date.now());
    (await next())(row(hash, null));
    expect(await first).toMatchObject({ principal: { name: "gateway" } });
    expect(await principalForToken(db, ADMIN, token, Date.now())).toMatchObject({ principal: { name: "gateway" } });
    expect(reads()).toBe(1);
  });
});
