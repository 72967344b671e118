// `npm run gateway -- --procedure <id> [--url URL] [--token TOKEN] [--fault SPEC]...`
// Runs the reference gateway against a simulated instrument until the
// procedure ends. Node runs the TypeScript modules as they are (type stripping).
import { parseArgs } from "node:util";
import { createClient, systemClock } from "../../clients/typescript/src/index.ts";
import { runGateway } from "./gateway.ts";
import { DEFAULT_DELAYS, NO_DELAYS, parseFault, SimulatedInstrument } from "./instrument.ts";

const USAGE = `usage: npm run gateway -- --procedure <id> [options]
  --procedure ID        the conducted procedure to run                     (EDGE_PROCEDURE)
  --url URL             the service                                        (EDGE_URL, default http://localhost:8787)
  --token TOKEN         a principal with the gateway role                  (EDGE_TOKEN)
  --fault SPEC          make the simulated instrument misbehave, repeatable:
                          offset:<address>:<offset>[:times]   reads are off by <offset>
                          error:<address|action>:<ErrorClass>[:times]   the operation fails
  --no-delays           a simulated instrument that takes no time
  --heartbeat-seconds S a heartbeat this often during a long step (default 10; 0: none)
  --poll-ms MS          how often to read the state while waiting for an operator (default 1000)`;

const { values } = parseArgs({
  options: {
    procedure: { type: "string" },
    url: { type: "string" },
    token: { type: "string" },
    fault: { type: "string", multiple: true, default: [] },
    "no-delays": { type: "boolean", default: false },
    "heartbeat-seconds": { type: "string", default: "10" },
    "poll-ms": { type: "string", default: "1000" },
    help: { type: "boolean", short: "h", default: false },
  },
});
const procedureId = values.procedure ?? process.env.EDGE_PROCEDURE;
const token = values.token ?? process.env.EDGE_TOKEN;
if (values.help || !procedureId || !token) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}

const start = Date.now();
const log = (line) => console.log(`[gateway +${((Date.now() - start) / 1000).toFixed(1)}s] ${line}`);
const client = createClient({ baseUrl: values.url ?? process.env.EDGE_URL ?? "http://localhost:8787", token });
const instrument = new SimulatedInstrument({
  clock: systemClock,
  delays: values["no-delays"] ? NO_DELAYS : DEFAULT_DELAYS,
  faults: values.fault.map(parseFault),
});

try {
  const final = await runGateway({
    procedure: client.procedure(procedureId),
    instrument,
    clock: systemClock,
    log,
    heartbeatMs: Number(values["heartbeat-seconds"]) * 1000,
    pollMs: Number(values["poll-ms"]),
  });
  process.exit(final.status === "Completed" ? 0 : 1);
} catch (error) {
  log(`stopped: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
