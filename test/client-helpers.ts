// The TypeScript client as a test drives it: through the Worker's own fetch
// handler, on a clock the test moves.
import { exports } from "cloudflare:workers";
import type { Clock } from "../clients/typescript/src/index.ts";
import { createClient } from "../clients/typescript/src/index.ts";

/** The Worker itself, as a fetch. */
export const workerFetch = (request: Request) => exports.default.fetch(request);

/** A clock that moves only when someone sleeps on it; timers fire as it passes them. */
export class FakeClock implements Clock {
  nowMs = Date.parse("2026-11-21T05:00:00.000Z");
  readonly sleeps: number[] = [];
  /** Called after each sleep, with the clock already moved on. */
  onSleep: (ms: number) => Promise<void> | void = () => {};
  #timers: Array<{ at: number; fire: () => void }> = [];

  now(): number {
    return this.nowMs;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.nowMs += ms;
    for (const timer of this.#timers.filter((t) => t.at <= this.nowMs)) {
      this.#timers.splice(this.#timers.indexOf(timer), 1);
      timer.fire();
    }
    await this.onSleep(ms);
  }

  setTimer(ms: number, fire: () => void): () => void {
    const timer = { at: this.nowMs + ms, fire };
    this.#timers.push(timer);
    return () => {
      const at = this.#timers.indexOf(timer);
      if (at >= 0) this.#timers.splice(at, 1);
    };
  }
}

/** A client for `token` over `fetch` (the Worker by default). */
export function clientFor(token: string, options: { clock?: Clock; fetch?: (request: Request) => Promise<Response> } = {}) {
  return createClient({
    baseUrl: "http://procedure-edge.test",
    token,
    fetch: options.fetch ?? workerFetch,
    clock: options.clock ?? new FakeClock(),
    retry: { random: () => 0.5 },
  });
}

/** Every entry of a logbook, oldest first. */
export async function logbookOf(id: string, token: string) {
  const handle = clientFor(token).procedure(id);
  const items = [];
  for (let cursor: string | undefined; ; ) {
    const page = await handle.activities({ limit: 500, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    if (page.next_cursor === null) return items.reverse();
    cursor = page.next_cursor;
  }
}
