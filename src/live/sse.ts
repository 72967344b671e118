// One Server-Sent Events subscriber: a byte-bounded queue between the object and
// the connection. Sending never waits for the client; a subscriber whose queue
// passes its bound is ended with a final `error` message naming the reason and
// the id to resume after, so a stuck client costs the object a bounded amount
// of memory and never holds up a command.
import { sseFrame, type LiveMessage } from "./feed";
import type { Position } from "./position";

const encoder = new TextEncoder();

/**
 * Messages as the bytes an SSE stream sends: encoded once per broadcast and
 * shared by every subscriber at the same position. A stream only reads what
 * it is given, so the same bytes serve them all.
 */
export function sseFrames(messages: readonly LiveMessage[]): Uint8Array[] {
  return messages.map((message) => encoder.encode(sseFrame(message)));
}

export class SseSubscriber {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private ended = false;

  constructor(
    readonly principal_id: string,
    /** Where this subscriber's feed stands: the next send starts after it. */
    public position: Position,
    private readonly maxQueuedBytes: number,
    private readonly onEnd: (subscriber: SseSubscriber) => void,
    /** The token that opened the stream: its rotation, revocation or expiry ends it. */
    readonly token_hash = "",
  ) {
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        cancel: () => this.finish(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: maxQueuedBytes }),
    );
  }

  get open(): boolean {
    return !this.ended;
  }

  /** Queues frames (`sseFrames`); false when the subscriber was too far behind and has been ended. */
  send(frames: readonly Uint8Array[]): boolean {
    if (this.ended) return false;
    for (const frame of frames) this.controller.enqueue(frame);
    if ((this.controller.desiredSize ?? 0) < 0) {
      this.end("too-slow", `more than ${this.maxQueuedBytes} bytes waited for this client; reconnect with Last-Event-ID`);
      return false;
    }
    return true;
  }

  /** A comment line: proxies see traffic, clients ignore it. */
  comment(text: string): void {
    if (!this.ended && (this.controller.desiredSize ?? 0) > 0) this.controller.enqueue(encoder.encode(`: ${text}\n\n`));
  }

  /**
   * Ends the stream; with a reason, a final `error` message says why. It has no
   * id line, so the client's Last-Event-ID stays the last message it received.
   */
  end(reason?: string, detail?: string): void {
    if (this.ended) return;
    if (reason) this.controller.enqueue(encoder.encode(`event: error\ndata: ${JSON.stringify({ reason, detail })}\n\n`));
    this.controller.close();
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(this);
  }
}
