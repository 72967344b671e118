// Serves a prepared Worker bundle the way `wrangler dev` does, through
// wrangler's programmatic API, but without the dev session's inspector:
// under `wrangler dev` every console call of the Worker is forwarded over the
// DevTools protocol to wrangler, which costs each log line about six times
// what writing it costs, and a deployment has no such session. The bench
// uses it for `--inspector off` (bench/lib.mjs serveService). It prints the
// Worker's own address behind wrangler's dev proxy, where `--sockets direct`
// opens the streams section's WebSockets.
//
//   node bench/serve-worker.mjs '<json: {config, entrypoint, persist, port, logLevel, testScheduled, vars}>'
import { unstable_DevEnv } from "wrangler";

const options = JSON.parse(process.argv[2]);
const devEnv = new unstable_DevEnv();
devEnv.on("reloadComplete", (event) => {
  const { protocol, hostname, port } = event.proxyData.userWorkerUrl;
  console.log(`serve-worker: the Worker itself answers at ${protocol}//${hostname}:${port}`);
});
const worker = await devEnv.startWorker({
  config: options.config,
  entrypoint: options.entrypoint,
  build: { bundle: false },
  dev: {
    inspector: false,
    server: { hostname: "127.0.0.1", port: options.port },
    persist: options.persist,
    logLevel: options.logLevel,
    testScheduled: options.testScheduled,
    watch: false,
  },
  bindings: Object.fromEntries(Object.entries(options.vars).map(([name, value]) => [name, { type: "plain_text", value }])),
});
await worker.ready;
const stop = async () => {
  await worker.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
