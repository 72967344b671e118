// Bearer tokens -> principals. Tokens are stored only as SHA-256 hashes; the
// bootstrap admin is the ADMIN_TOKEN secret itself.
import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { sha256Hex, toBase64Url } from "../encoding";
import { principals } from "../db/schema";
import { ROLES, type Principal, type Role } from "./grants";

export const BOOTSTRAP_ADMIN_ID = "01900000-0000-7000-8000-000000000001";

/** What is stored of a token: its hex SHA-256. */
export const hashToken = sha256Hex;

/** A fresh bearer token: 32 random bytes, base64url. */
function newToken(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

function toPrincipal(row: { principal_id: string; name: string; roles: string[] }): Principal {
  return { principal_id: row.principal_id, name: row.name, roles: row.roles.filter((r): r is Role => ROLES.includes(r as Role)) };
}

// Principals are immutable once created, so a short per-isolate cache spares a
// D1 read on every request of a busy gateway.
const CACHE_TTL_MS = 60_000;
const cache = new Map<string, { principal: Principal; until: number }>();

/** The principal a bearer token stands for, or null when the token is unknown. */
export async function principalForToken(db: Database, adminToken: string, token: string): Promise<Principal | null> {
  const hash = await hashToken(token);
  const cached = cache.get(hash);
  if (cached && cached.until > Date.now()) return cached.principal;
  let principal: Principal | null = null;
  if (adminToken.length > 0 && hash === (await hashToken(adminToken))) {
    principal = { principal_id: BOOTSTRAP_ADMIN_ID, name: "bootstrap-admin", roles: ["admin"] };
  } else {
    const row = await db.query.principals.findFirst({ where: eq(principals.token_hash, hash) });
    principal = row ? toPrincipal(row) : null;
  }
  if (principal) cache.set(hash, { principal, until: Date.now() + CACHE_TTL_MS });
  return principal;
}

/** A principal by id (the watcher's agent has no token). */
export async function principalById(db: Database, principalId: string): Promise<Principal | null> {
  const row = await db.query.principals.findFirst({ where: eq(principals.principal_id, principalId) });
  return row ? toPrincipal(row) : null;
}

/**
 * The principal by id while it may act: null when it is missing (and, once
 * tokens can be revoked or expire, when revoked or expired at `nowMs`). The
 * bootstrap admin has no row and is always active.
 */
export async function activePrincipalById(db: Database, principalId: string, _nowMs: number): Promise<Principal | null> {
  if (principalId === BOOTSTRAP_ADMIN_ID) return { principal_id: BOOTSTRAP_ADMIN_ID, name: "bootstrap-admin", roles: ["admin"] };
  return principalById(db, principalId);
}

/** Creates a principal and returns the token, which is never stored. */
export async function createPrincipal(db: Database, name: string, roles: Role[], now: string, id: string) {
  const token = newToken();
  await db.insert(principals).values({ principal_id: id, name, roles, token_hash: await hashToken(token), created_at: now });
  return { principal_id: id, token };
}
