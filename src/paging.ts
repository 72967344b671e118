// Every listing fetches one row past the page to learn whether another follows.

/** Splits `limit + 1` fetched rows into the page and the key of its last row when more follow. */
export function splitPage<T, K>(fetched: readonly T[], limit: number, keyOf: (row: T) => K): { rows: T[]; next: K | null } {
  const rows = fetched.slice(0, limit);
  const last = rows[rows.length - 1];
  return { rows, next: fetched.length > limit && last !== undefined ? keyOf(last) : null };
}
