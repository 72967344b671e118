// Stream tickets: a browser cannot put an Authorization header on a WebSocket,
// so it first asks for a ticket (with its bearer token) and opens the stream
// with `?ticket=`. A ticket is bound to one principal and one procedure (it is
// kept in that procedure's own storage), lives a minute, and is deleted by the
// redemption that uses it, so a ticket seen in a log or a history is already
// spent or about to expire. Only its hash is stored.
import { sha256Hex, toBase64Url } from "../encoding";

export const STREAM_TICKET_TTL_MS = 60_000;

export interface StreamTicket {
  ticket: string;
  expires_at: string;
}

/** Issues a ticket for `principalId`, dropping expired ones on the way. */
export async function issueTicket(sql: SqlStorage, principalId: string, now: number): Promise<StreamTicket> {
  const ticket = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const hash = await sha256Hex(ticket);
  sql.exec("DELETE FROM stream_tickets WHERE expires_at <= ?", now);
  sql.exec("INSERT INTO stream_tickets (ticket_hash, principal_id, expires_at) VALUES (?, ?, ?)", hash, principalId, now + STREAM_TICKET_TTL_MS);
  return { ticket, expires_at: new Date(now + STREAM_TICKET_TTL_MS).toISOString() };
}

/** Spends a ticket: the principal it was issued to, or null when it is unknown, spent or expired. */
export async function redeemTicket(sql: SqlStorage, ticket: string, now: number): Promise<string | null> {
  const hash = await sha256Hex(ticket);
  // One statement finds and deletes it, so two concurrent redemptions cannot both succeed.
  const row = sql
    .exec<{ principal_id: string; expires_at: number }>("DELETE FROM stream_tickets WHERE ticket_hash = ? RETURNING principal_id, expires_at", hash)
    .toArray()[0];
  return row && row.expires_at > now ? row.principal_id : null;
}
