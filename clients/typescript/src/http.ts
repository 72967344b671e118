// One request to the service: bearer token, JSON in and out, problems turned
// into ProblemError, and the retries the request is allowed.
import { type Clock, systemClock } from "./clock.ts";
import { NetworkError, problemOf } from "./errors.ts";
import { backoffMs, DEFAULT_RETRY, isServerError, retryAfterMs, type RetryPolicy } from "./retry.ts";
import type { paths } from "./openapi.ts";
import type { BodyOf, Method, PathWith, QueryOf, ResponseOf } from "./types.ts";

export interface ClientOptions {
  /** Where the service is, e.g. http://localhost:8787 */
  baseUrl: string;
  /** A principal's bearer token. */
  token: string;
  /** Any fetch: the global one by default (a test passes the Worker's own). */
  fetch?: (request: Request) => Promise<Response>;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  /** Per attempt; a timeout counts as a network failure. Default 30 s. */
  timeoutMs?: number;
}

/**
 * How far a request may be repeated:
 * - `safe`: reads, and appends (entries are deduplicated on their ids): on a
 *   network failure, 429 and 5xx;
 * - `unprocessed`: commands, which are not idempotent: only on 429, which the
 *   service answers before acting.
 */
export type RetryMode = "safe" | "unprocessed";

export interface Call<P extends keyof paths, M extends Method> {
  params?: Record<string, string>;
  body?: BodyOf<P, M>;
  query?: QueryOf<P, M>;
  headers?: Record<string, string>;
  retry?: RetryMode;
}

export class Transport {
  readonly clock: Clock;
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #fetch: (request: Request) => Promise<Response>;
  readonly #policy: RetryPolicy;
  readonly #timeoutMs: number;

  constructor(options: ClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? ((request) => fetch(request));
    this.clock = options.clock ?? systemClock;
    this.#policy = { ...DEFAULT_RETRY, ...options.retry };
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The retry policy this client was given: long-lived requests (a stream) pace their reconnects with it. */
  get policy(): RetryPolicy {
    return this.#policy;
  }

  /**
   * Opens a long-lived GET (a stream) with the bearer token and answers the raw
   * response: no per-attempt timeout and no retries, which are the caller's.
   */
  open(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const request = new Request(this.#baseUrl + path, { headers: { authorization: `Bearer ${this.#token}`, ...headers }, signal });
    return this.#fetch(request);
  }

  /** Sends one operation of the OpenAPI document and answers its success body, typed from the document. */
  async call<M extends Method, P extends PathWith<M>>(method: M, path: P, call: Call<P, M> = {}): Promise<ResponseOf<P, M>> {
    const url = new URL(this.#baseUrl + fillPath(path, call.params ?? {}));
    for (const [key, value] of Object.entries((call.query ?? {}) as Record<string, unknown>)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: "application/json", ...call.headers };
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    if (body !== undefined) headers["content-type"] = "application/json";
    const mode = call.retry ?? (method === "get" ? "safe" : "unprocessed");

    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.#policy.maxAttempts;
      let response: Response;
      try {
        const request = new Request(url, { method: method.toUpperCase(), headers, body, signal: AbortSignal.timeout(this.#timeoutMs) });
        response = await this.#fetch(request);
      } catch (error) {
        if (mode === "safe" && !last) {
          await this.clock.sleep(backoffMs(this.#policy, attempt));
          continue;
        }
        throw new NetworkError(`${method.toUpperCase()} ${url.pathname}: no answer after ${attempt} attempt(s)`, { cause: error });
      }
      if (response.ok) {
        const text = await response.text();
        return (text === "" ? undefined : JSON.parse(text)) as ResponseOf<P, M>;
      }
      const retryable = response.status === 429 || (mode === "safe" && isServerError(response.status));
      if (retryable && !last) {
        const wait = retryAfterMs(response.headers.get("retry-after"), this.clock.now()) ?? backoffMs(this.#policy, attempt);
        await response.body?.cancel();
        await this.clock.sleep(wait);
        continue;
      }
      throw await problemOf(response);
    }
  }
}

function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`missing path parameter ${name} for ${path}`);
    return encodeURIComponent(value);
  });
}
