// Stream tickets: a browser cannot put an Authorization header on a WebSocket,
// so it first asks for a ticket (with its bearer token) and opens the stream
// with `?ticket=`. A ticket is bound to one procedure (it is kept in that
// procedure's own storage) and to the token that asked for it (its principal
// and the token's hash: a rotation or revocation spends it), lives a minute,
// and is deleted by the redemption that uses it, so a ticket seen in a log or a
// history is already spent or about to expire. Only its hash is stored.
import { sha256Hex, toBase64Url } from "../encoding";

export const STREAM_TICKET_TTL_MS = 60_000;

/** Every ticket's shape: 32 random bytes, base64url. Anything else is refused without a look-up. */
export const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface StreamTicket {
  ticket: string;
  expires_at: string;
}

/** Who a ticket stands for: the principal and the token that asked for it. */
export interface TicketHolder {
  principal_id: string;
  token_hash: string;
}

/** Issues a ticket for `holder`, dropping expired ones on the way. */
export async function issueTicket(sql: SqlStorage, holder: TicketHolder, now: number): Promise<StreamTicket> {
  const ticket = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const hash = await sha256Hex(ticket);
  sql.exec("DELETE FROM stream_tickets WHERE expires_at <= ?", now);
  sql.exec(
    "INSERT INTO stream_tickets (ticket_hash, principal_id, token_hash, expires_at) VALUES (?, ?, ?, ?)",
    hash,
    holder.principal_id,
    holder.token_hash,
    now + STREAM_TICKET_TTL_MS,
  );
  return { ticket, expires_at: new Date(now + STREAM_TICKET_TTL_MS).toISOString() };
}

/** Spends a ticket: who it was issued to, or null when it is unknown, spent or expired. */
export async function redeemTicket(sql: SqlStorage, ticket: string, now: number): Promise<TicketHolder | null> {
  const hash = await sha256Hex(ticket);
  // One statement finds and deletes it, so two concurrent redemptions cannot both succeed.
  const row = sql
    .exec<{ principal_id: string; token_hash: string; expires_at: number }>("DELETE FROM stream_tickets WHERE ticket_hash = ? RETURNING principal_id, token_hash, expires_at", hash)
    .toArray()[0];
  return row && row.expires_at > now ? { principal_id: row.principal_id, token_hash: row.token_hash } : null;
}
