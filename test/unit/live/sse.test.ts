// An SSE watcher's bounded queue: a client that does not read is ended with a
// final error message once its backlog passes the bound, and never before.
import { describe, expect, it } from "vitest";
import { SseSubscriber, sseFrames } from "../../../src/live/sse";

const message = (n: number) => ({ id: `${n}.0`, event: "ProcedureHeld", data: { reason: "x".repeat(200), n } });

describe("SseWatcher", () => {
  it("queues within its bound, then ends with an error message naming the reason and no id", async () => {
    const ended: SseSubscriber[] = [];
    const watcher = new SseSubscriber("p", { version: 0, seq: 0 }, 2000, (w) => ended.push(w));
    let sent = 0;
    while (watcher.send(sseFrames([message(sent)]))) sent += 1;
    expect(sent).toBeGreaterThan(3);
    expect(watcher.open).toBe(false);
    expect(ended).toEqual([watcher]);
    const text = await new Response(watcher.body).text();
    const frames = text.trimEnd().split("\n\n");
    expect(frames).toHaveLength(sent + 2);
    expect(frames[0]).toBe(`id: 0.0\nevent: ProcedureHeld\ndata: ${JSON.stringify(message(0).data)}`);
    expect(frames.at(-1)).toMatch(/^event: error\ndata: \{"reason":"too-slow","detail":".*Last-Event-ID"\}$/);
  });

  it("sends nothing after it ended, and a cancelled stream counts as ended", async () => {
    const ended: SseSubscriber[] = [];
    const watcher = new SseSubscriber("p", { version: 0, seq: 0 }, 1_000_000, (w) => ended.push(w));
    await watcher.body.cancel();
    expect(watcher.open).toBe(false);
    expect(watcher.send(sseFrames([message(1)]))).toBe(false);
    expect(ended).toEqual([watcher]);
  });

  it("lets subscribers share the same frames, each reading all of them, and leaves the frames as they were", async () => {
    const frames = sseFrames([message(1), message(2)]);
    const [a, b] = [0, 1].map(() => new SseSubscriber("p", { version: 0, seq: 0 }, 1_000_000, () => {}));
    expect(a!.send(frames)).toBe(true);
    expect(b!.send(frames)).toBe(true);
    a!.end();
    b!.end();
    const [textA, textB] = await Promise.all([new Response(a!.body).text(), new Response(b!.body).text()]);
    expect(textA).toBe(`id: 1.0\nevent: ProcedureHeld\ndata: ${JSON.stringify(message(1).data)}\n\nid: 2.0\nevent: ProcedureHeld\ndata: ${JSON.stringify(message(2).data)}\n\n`);
    expect(textB).toBe(textA);
    expect(new TextDecoder().decode(frames[0])).toBe(textA.split("\n\n")[0] + "\n\n");
  });
});
