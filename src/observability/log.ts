// Structured logs: every line the service writes is one JSON object, so
// Workers Logs indexes its fields (request_id, principal_id, operation, ...).
// Pure: no Workers imports, the core's tests use it as it is.

/** What a line is about; `msg` names the kind of line, the rest are its fields. */
export type LogFields = { msg: string } & Record<string, unknown>;

/**
 * Field names a line never carries, whoever built it: a bearer token, a
 * webhook secret, a stream ticket or a signature must not reach the logs.
 * The fields below are dropped, not masked, so a line shows no trace of them.
 */
const NEVER_LOGGED = /^(authorization|token|secret|ticket|signature|admin_token|webhook_signing_key|password|cookie)$|_(token|secret|ciphertext)$/i;

function clean(fields: LogFields): LogFields {
  let kept: LogFields | null = null;
  for (const key of Object.keys(fields)) {
    if (!NEVER_LOGGED.test(key)) continue;
    kept ??= { ...fields };
    delete kept[key];
  }
  return kept ?? fields;
}

export type LogLevel = "info" | "warn" | "error";

/**
 * Writes one JSON line. An info line is written only while logging is on
 * (TELEMETRY_ENABLED); warnings and errors always are: they are what an
 * administrator is paged for.
 */
export function logLine(level: LogLevel, fields: LogFields, enabled = true): void {
  if (level === "info" && !enabled) return;
  const line = JSON.stringify({ level, ...clean(fields) });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
