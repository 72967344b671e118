// Bearer tokens -> principals. Tokens are stored only as SHA-256 hashes; the
// bootstrap admin is the ADMIN_TOKEN secret itself.
//
// Every request is authenticated from a per-isolate cache, so a busy gateway's
// hot path reads no D1. What the cache may serve stale is bounded:
// - a revocation or rotation made through this isolate evicts at once, and
//   wins against a look-up in flight: every eviction bumps a generation, and a
//   look-up that started before one is made again before its row is cached;
// - one made through another isolate is seen here within PRINCIPAL_CACHE_TTL_MS;
// - expiry is checked on every request against the cached `expires_at`.
// Unknown tokens cost at most one D1 read per hash per UNKNOWN_TTL_MS, and a
// look-up that finds no live principal spends the caller's budget (the route
// layer keeps one per client address; a valid token spends nothing): while the
// address is over it, tokens this isolate has no entry for are not looked up,
// so bogus tokens from one address can neither load D1 nor lock anyone else out.
import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { beyond } from "../db/keyset";
import { splitPage } from "../paging";
import { sha256Hex, toBase64Url } from "../encoding";
import { auditStatement } from "../db/audit";
import { principals } from "../db/schema";
import { ROLES, type Principal, type PrincipalScopes, type Role } from "./grants";

export const BOOTSTRAP_ADMIN_ID = "01900000-0000-7000-8000-000000000001";

/** How long a known token is served from the cache: the cross-isolate bound on a revocation or rotation. */
export const PRINCIPAL_CACHE_TTL_MS = 10_000;
/** How long an unknown token hash is remembered as unknown. */
export const UNKNOWN_TTL_MS = 5_000;
/** How often a look-up is made again because an eviction overtook it, before its answer is used uncached. */
const LOOKUP_ATTEMPTS = 3;
/** Entries each cache holds at most; the oldest go first. */
const CACHE_LIMIT = 10_000;

/** What is stored of a token: its hex SHA-256. */
export const hashToken = sha256Hex;

/** A fresh bearer token: 32 random bytes, base64url. */
function newToken(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

export type PrincipalRecord = typeof principals.$inferSelect;

function toPrincipal(row: PrincipalRecord): Principal {
  return {
    principal_id: row.principal_id,
    name: row.name,
    roles: row.roles.filter((r): r is Role => ROLES.includes(r as Role)),
    scopes: row.scopes ?? null,
    expires_at: row.expires_at ?? null,
  };
}

function expired(principal: Principal, nowMs: number): boolean {
  return principal.expires_at !== null && Date.parse(principal.expires_at) <= nowMs;
}

const known = new Map<string, { principal: Principal; until: number }>();
const unknown = new Map<string, number>();
const lookups = new Map<string, Promise<PrincipalRecord | undefined>>();
/** Bumped by every eviction: a look-up that started before the current generation may hold a row as it was before a revocation or rotation. */
let generation = 0;

/** How many D1 look-ups token authentication made in this isolate (the benchmark reads it). */
export const tokenLookupStats = { d1_reads: 0, throttled: 0 };

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= CACHE_LIMIT) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/**
 * Drops every cached token of a principal, so this isolate refuses its old token from the next
 * request; look-ups in flight are not joined again, and their rows are not cached.
 */
export function forgetPrincipal(principalId: string): void {
  generation += 1;
  lookups.clear();
  for (const [hash, entry] of known) if (entry.principal.principal_id === principalId) known.delete(hash);
}

/** One D1 look-up of a token hash, shared by concurrent requests with the same token. */
function lookUp(db: Database, hash: string): Promise<PrincipalRecord | undefined> {
  let lookup = lookups.get(hash);
  if (lookup) return lookup;
  tokenLookupStats.d1_reads += 1;
  // A real promise: a drizzle query runs again on every `then`.
  const started = Promise.resolve(db.query.principals.findFirst({ where: eq(principals.token_hash, hash) }));
  lookups.set(hash, started);
  const settle = () => {
    if (lookups.get(hash) === started) lookups.delete(hash);
  };
  started.then(settle, settle);
  return started;
}

let adminHash: { token: string; hash: string } | null = null;

async function isAdminToken(adminToken: string, hash: string): Promise<boolean> {
  if (adminToken.length === 0) return false;
  if (adminHash?.token !== adminToken) adminHash = { token: adminToken, hash: await hashToken(adminToken) };
  return adminHash.hash === hash;
}

export const BOOTSTRAP_ADMIN: Principal = { principal_id: BOOTSTRAP_ADMIN_ID, name: "bootstrap-admin", roles: ["admin"], scopes: null, expires_at: null };

/** What the caller's unknown tokens may cost: look-ups stop while it is over budget, and each unknown token spends from it. */
export interface UnknownTokenBudget {
  /** False while the caller is over its budget: a token this isolate has no entry for is not looked up. */
  open(): boolean;
  /** Spends one look-up that found no live principal. */
  spend(): Promise<void>;
}

const UNLIMITED: UnknownTokenBudget = { open: () => true, spend: async () => {} };

/** Who a token stands for: a principal, unknown (missing, revoked, expired), or not looked up now (too many unknown tokens from the caller). */
export type TokenOutcome = { principal: Principal; token_hash: string } | { refused: "unknown" | "throttled" };

/**
 * The principal a bearer token stands for, answered from the cache whenever it can be.
 * `budget` is the caller's for unknown tokens: checked before a token this isolate has
 * no entry for is looked up in D1, and spent when the look-up finds no live principal.
 */
export async function principalForToken(
  db: Database,
  adminToken: string,
  token: string,
  nowMs: number,
  budget: UnknownTokenBudget = UNLIMITED,
): Promise<TokenOutcome> {
  const hash = await hashToken(token);
  const cached = known.get(hash);
  if (cached && cached.until > nowMs) return expired(cached.principal, nowMs) ? { refused: "unknown" } : { principal: cached.principal, token_hash: hash };
  if ((unknown.get(hash) ?? 0) > nowMs) return { refused: "unknown" };
  if (await isAdminToken(adminToken, hash)) {
    remember(known, hash, { principal: BOOTSTRAP_ADMIN, until: nowMs + PRINCIPAL_CACHE_TTL_MS });
    return { principal: BOOTSTRAP_ADMIN, token_hash: hash };
  }
  // A token this isolate knew is re-checked without asking: the admission is for strangers.
  if (!cached && !lookups.has(hash) && !budget.open()) {
    tokenLookupStats.throttled += 1;
    return { refused: "throttled" };
  }
  let row: PrincipalRecord | undefined;
  let current = false;
  for (let attempt = 0; attempt < LOOKUP_ATTEMPTS && !current; attempt += 1) {
    const started = generation;
    row = await lookUp(db, hash);
    current = generation === started;
  }
  if (!row || row.revoked_at !== null) await budget.spend();
  // Still overtaken by evictions: answer this request from the row, but cache nothing.
  if (!current) return !row || row.revoked_at !== null || expired(toPrincipal(row), nowMs) ? { refused: "unknown" } : { principal: toPrincipal(row), token_hash: hash };
  if (!row || row.revoked_at !== null) {
    known.delete(hash);
    remember(unknown, hash, nowMs + UNKNOWN_TTL_MS);
    return { refused: "unknown" };
  }
  const principal = toPrincipal(row);
  remember(known, hash, { principal, until: nowMs + PRINCIPAL_CACHE_TTL_MS });
  return expired(principal, nowMs) ? { refused: "unknown" } : { principal, token_hash: hash };
}

/** A principal by id (the watcher's agent has no token), whatever its state. */
export async function principalById(db: Database, principalId: string): Promise<Principal | null> {
  const row = await findPrincipal(db, principalId);
  return row ? toPrincipal(row) : null;
}

/** A principal that may act now: null when it is missing, revoked or expired. */
export async function activePrincipalById(db: Database, principalId: string, nowMs: number): Promise<Principal | null> {
  if (principalId === BOOTSTRAP_ADMIN_ID) return BOOTSTRAP_ADMIN;
  const row = await findPrincipal(db, principalId);
  if (!row || row.revoked_at !== null) return null;
  const principal = toPrincipal(row);
  return expired(principal, nowMs) ? null : principal;
}

/**
 * The principal `tokenHash` stands for, when that token is still its current one and it may act
 * now: null when the principal is missing, revoked or expired, or its token was rotated since.
 * A stream and a stream ticket are bound to the token that opened or asked for them.
 */
export async function principalHoldingToken(db: Database, adminToken: string, principalId: string, tokenHash: string, nowMs: number): Promise<Principal | null> {
  if (principalId === BOOTSTRAP_ADMIN_ID) return (await isAdminToken(adminToken, tokenHash)) ? BOOTSTRAP_ADMIN : null;
  const row = await findPrincipal(db, principalId);
  if (!row || row.revoked_at !== null || row.token_hash !== tokenHash) return null;
  const principal = toPrincipal(row);
  return expired(principal, nowMs) ? null : principal;
}

export async function findPrincipal(db: Database, principalId: string): Promise<PrincipalRecord | null> {
  return (await db.query.principals.findFirst({ where: eq(principals.principal_id, principalId) })) ?? null;
}

export interface NewPrincipal {
  principal_id: string;
  name: string;
  roles: Role[];
  scopes: PrincipalScopes | null;
  expires_at: string | null;
}

/** Creates a principal and its audit trail in one batch, and returns the token, which is never stored. */
export async function createPrincipal(db: Database, input: NewPrincipal, now: string, actorId: string, auditIds: () => string) {
  const token = newToken();
  const insert = db.insert(principals).values({ ...input, token_hash: await hashToken(token), created_at: now });
  const audit = { subject_id: input.principal_id, actor_id: actorId, occurred_at: now };
  const created = auditStatement(db, { ...audit, audit_id: auditIds(), action: "principal.created", reason: null });
  if (input.scopes === null) await db.batch([insert, created]);
  else {
    const scoped = { ...audit, audit_id: auditIds(), action: "principal.scoped" as const, reason: `target_asset_ids: ${input.scopes.target_asset_ids.join(", ")}` };
    await db.batch([insert, created, auditStatement(db, scoped)]);
  }
  return { principal_id: input.principal_id, token };
}

/** Revokes a principal (once) and records who did it, in one batch; answers the principal as it is now. */
export async function revokePrincipal(db: Database, principalId: string, reason: string | null, now: string, actorId: string, auditId: string) {
  const t = principals;
  const revoke = db
    .update(t)
    .set({ revoked_at: now, revoked_reason: reason })
    .where(and(eq(t.principal_id, principalId), isNull(t.revoked_at)));
  const revokedNow = sql`EXISTS (SELECT 1 FROM principals WHERE principal_id = ${principalId} AND revoked_at = ${now})`;
  await db.batch([revoke, auditStatement(db, { audit_id: auditId, action: "principal.revoked", subject_id: principalId, actor_id: actorId, reason, occurred_at: now }, revokedNow)]);
  forgetPrincipal(principalId);
  return findPrincipal(db, principalId);
}

/** Replaces a live principal's token; null when it was revoked or rotated meanwhile. */
export async function rotatePrincipal(db: Database, current: PrincipalRecord, now: string, actorId: string, auditId: string) {
  const t = principals;
  const token = newToken();
  const hash = await hashToken(token);
  const rotate = db
    .update(t)
    .set({ token_hash: hash, rotated_at: now })
    .where(and(eq(t.principal_id, current.principal_id), isNull(t.revoked_at), eq(t.token_hash, current.token_hash!)));
  const rotatedNow = sql`EXISTS (SELECT 1 FROM principals WHERE principal_id = ${current.principal_id} AND token_hash = ${hash})`;
  const audit = { audit_id: auditId, action: "principal.rotated" as const, subject_id: current.principal_id, actor_id: actorId, reason: null, occurred_at: now };
  const [updated] = await db.batch([rotate.returning({ principal_id: t.principal_id }), auditStatement(db, audit, rotatedNow)]);
  forgetPrincipal(current.principal_id);
  return updated.length === 1 ? { principal_id: current.principal_id, token } : null;
}

/** The names of the principals among `ids` (the bootstrap admin's too), for showing who ran a command. */
export async function principalNames(db: Database, ids: readonly string[]): Promise<Array<{ principal_id: string; name: string }>> {
  const stored = ids.length === 0 ? [] : await db.select({ principal_id: principals.principal_id, name: principals.name }).from(principals).where(inArray(principals.principal_id, [...ids]));
  return ids.includes(BOOTSTRAP_ADMIN_ID) ? [{ principal_id: BOOTSTRAP_ADMIN_ID, name: BOOTSTRAP_ADMIN.name }, ...stored] : stored;
}

export interface PrincipalCursor {
  created_at: string;
  principal_id: string;
}

/** A keyset page of principals in creation order. */
export async function listPrincipals(db: Database, after: PrincipalCursor | null, limit: number) {
  const t = principals;
  const rows = await db
    .select()
    .from(t)
    .where(after ? beyond("asc", t.created_at, t.principal_id, after.created_at, after.principal_id) : undefined)
    .orderBy(asc(t.created_at), asc(t.principal_id))
    .limit(limit + 1);
  return splitPage(rows, limit, (row) => ({ created_at: row.created_at, principal_id: row.principal_id }));
}
