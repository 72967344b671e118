// What the operations tests share: the console output a run produced, and the
// Worker's own queue handler run on a hand-made batch.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import worker from "../src/index";
import type { NotifyMessage } from "../src/notify/delivery";

/** Every line written to the console while `run` runs, as written. */
export async function consoleOutput(run: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")));
  }
  try {
    await run();
  } finally {
    vi.restoreAllMocks();
  }
  return lines;
}

/** The JSON lines written to the console while `run` runs, parsed. */
export async function logLines(run: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
  return (await consoleOutput(run)).flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/**
 * Runs the Worker's queue handler on `bodies` (attempt 1), with `overrides` on
 * its environment; answers what it sent on and the messages it retried.
 */
export async function consume(bodies: NotifyMessage[], overrides: Record<string, unknown> = {}) {
  const onward: NotifyMessage[] = [];
  const queue = { sendBatch: async (batch: Iterable<{ body: NotifyMessage }>) => void onward.push(...[...batch].map((m) => m.body)) };
  const batch = createMessageBatch<NotifyMessage>(
    "procedure-edge-notifications",
    bodies.map((body, i) => ({ id: `m-${i}`, timestamp: Date.now(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, NOTIFICATIONS: queue as unknown as Queue, ...overrides } as Env);
  const { retryMessages } = await getQueueResult(batch, ctx);
  return { onward, retried: retryMessages };
}
