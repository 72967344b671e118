// The streams section's command sender, in its own thread: the main thread
// handles up to 1,000 watchers' messages, and a reply queued behind them there
// would measure the bench client, not the service. Times are absolute
// (timeOrigin + now) so both threads' clocks compare.
import { parentPort } from "node:worker_threads";

const now = () => performance.timeOrigin + performance.now();

parentPort.on("message", async ({ url, token, body }) => {
  const sent = now();
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
    parentPort.postMessage({ sent, replied: now(), version: JSON.parse(text).version });
  } catch (error) {
    parentPort.postMessage({ error: String(error) });
  }
});
