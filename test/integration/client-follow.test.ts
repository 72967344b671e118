// The client's follow(): the procedure's live stream through fetch, in commit
// order, reopened from the last id when the connection drops, and ended when
// the procedure ends.
import { describe, expect, it } from "vitest";
import type { StreamMessage } from "../../clients/typescript/src/index.ts";
import { parseFrames } from "../../clients/typescript/src/index.ts";
import { clientFor, workerFetch } from "../client-helpers";
import { command, eventLog, registerProcedure, tokenFor } from "../helpers";

/** Runs a procedure through start, hold, resume and complete while `follow` listens. */
async function runWhileFollowed(fetch: (request: Request) => Promise<Response>) {
  const operator = await tokenFor("operator");
  const id = await registerProcedure({}, operator);
  const received: StreamMessage[] = [];
  let listening!: () => void;
  const firstMessage = new Promise<void>((resolve) => (listening = resolve));
  const following = clientFor(operator, { fetch }).procedure(id).follow((message) => {
    received.push(message);
    listening();
  });
  // The stream starts from the state at the moment it opens: command only once it is open.
  await firstMessage;
  await command(id, "start", undefined, operator);
  await command(id, "hold", { reason: "look at the oven" }, operator);
  await command(id, "resume", { re_establishment_boundary: 0 }, operator);
  await command(id, "complete", undefined, operator);
  await following.done;
  return { id, received };
}

describe("follow()", () => {
  it("delivers the state, every event in order and a fresh state after each command, then ends with the procedure", async () => {
    const { id, received } = await runWhileFollowed(workerFetch);
    const events = received.filter((m) => m.event !== "state" && m.event !== "activity").map((m) => m.event);
    // The stream opened after registration: every later event of the log, in order.
    expect(events).toEqual((await eventLog(id)).map((e) => e.type).slice(1));
    expect(events).toEqual(["ProcedureStarted", "ProcedureHeld", "ProcedureResumed", "ProcedureCompleted"]);
    expect(received[0]?.event).toBe("state");
    expect(received.at(-1)).toMatchObject({ event: "state", data: { status: "Completed" } });
    expect(new Set(received.map((m) => m.id)).size).toBe(received.length);
  });

  it("reopens a dropped stream from the last id: nothing missed, nothing twice", async () => {
    let opened = 0;
    // The first connection is cut after its first message (the initial state).
    const cutting = async (request: Request) => {
      const response = await workerFetch(request);
      if (!new URL(request.url).pathname.endsWith("/stream") || opened++ > 0 || response.body === null) return response;
      const reader = response.body.getReader();
      const first = await reader.read();
      await reader.cancel();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          if (first.value) controller.enqueue(first.value);
          controller.error(new Error("connection lost"));
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const cut = await runWhileFollowed(cutting);
    expect(opened).toBeGreaterThan(1);
    const kinds = cut.received.filter((m) => m.event !== "state").map((m) => m.event);
    expect(kinds).toEqual(["ProcedureStarted", "ProcedureHeld", "ProcedureResumed", "ProcedureCompleted"]);
    expect(new Set(cut.received.map((m) => m.id)).size).toBe(cut.received.length);
    expect(cut.received.at(-1)).toMatchObject({ event: "state", data: { status: "Completed" } });
  });

  it("ends with the problem when the stream is refused", async () => {
    const reader = await tokenFor("reader");
    const following = clientFor(reader).procedure(crypto.randomUUID()).follow(() => {});
    await expect(following.done).rejects.toMatchObject({ status: 404, error_class: "ProcedureNotFound" });
  });

  it("parses frames: comments skipped, multi-line data joined, a partial frame kept for later", () => {
    const parsed = parseFrames(': keepalive\n\nid: 1.0\nevent: state\ndata: {"a":\ndata: 1}\n\nid: 2.0\nevent: Proc');
    expect(parsed.messages).toEqual([{ id: "1.0", event: "state", data: { a: 1 } }]);
    expect(parsed.rest).toBe("id: 2.0\nevent: Proc");
  });
});
