// Where a message stands in a procedure's live feed, taken from the record
// itself: the event log's version and the logbook's seq at that point. Every
// message id is a position, so a reconnect names exactly where it left off and
// the feed replays what followed from the event log and the logbook; there is
// no separate buffer to drift from them. A `state` message carries the
// position it reflects with a `.state` suffix: it follows the records at that
// position and precedes the next commit's.

export interface Position {
  /** The procedure's version: events up to it are included. */
  version: number;
  /** The logbook's seq: entries up to it are included. */
  seq: number;
}

export const ORIGIN: Position = { version: 0, seq: 0 };

/** A parsed message id; `state` marks the state message at that position. */
export interface StreamId extends Position {
  state: boolean;
}

const ID = /^(\d{1,15})\.(\d{1,15})(\.state)?$/;

export function recordId(p: Position): string {
  return `${p.version}.${p.seq}`;
}

export function stateId(p: Position): string {
  return `${p.version}.${p.seq}.state`;
}

/** The id a client sent back, or null when it is not one this feed gives out. */
export function parseStreamId(text: string): StreamId | null {
  const match = ID.exec(text.trim());
  if (!match) return null;
  return { version: Number(match[1]), seq: Number(match[2]), state: match[3] !== undefined };
}

export function samePosition(a: Position, b: Position): boolean {
  return a.version === b.version && a.seq === b.seq;
}

/** True when `p` lies beyond `current`: an id this procedure never gave out. */
export function beyond(p: Position, current: Position): boolean {
  return p.version > current.version || p.seq > current.seq;
}
