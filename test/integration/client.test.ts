// The client and the reference gateway drive a conduct end to end: a step
// fault holds the procedure, the operator resumes it with conduct-from, the
// gateway replays from that boundary, waits for the go-ahead on the action,
// and the procedure completes.
import { describe, expect, it } from "vitest";
import { isProblem, ProblemError } from "../../clients/typescript/src/index.ts";
import { runGateway } from "../../examples/gateway/gateway.ts";
import { SimulatedInstrument } from "../../examples/gateway/instrument.ts";
import { clientFor, FakeClock, logbookOf } from "../client-helpers";
import { eventLog, registerProcedure, tokenFor } from "../helpers";

/** The gateway's poll interval: the operator acts while the gateway waits this long. */
const POLL_MS = 60_000;

describe("the reference gateway, through the client", () => {
  it("runs a conduct through a step fault, a hold, conduct-from, the go-ahead and completion", async () => {
    const operatorToken = await tokenFor("operator");
    const operator = clientFor(operatorToken);
    const registered = await operator.register({ name: "Bake-out", kind: "thermal", target_asset_ids: ["oven-1"] });
    const procedure = operator.procedure(registered.procedure_id);
    const conducted = await procedure.conduct({
      steps: [
        { kind: "setpoint", address: "zone.a", value: 120, verify: false },
        { kind: "check", address: "zone.a", criterion: { kind: "within_tolerance", expected: 120, tolerance: 2 } },
        { kind: "capture", address: "detector", capture_name: "frame" },
        { kind: "action", name: "open_valve", params: { valve: "v3" } },
      ],
      closing_steps: [{ kind: "setpoint", address: "zone.a", value: 20, verify: false }],
      on_failure: "hold",
    });
    expect(conducted).toMatchObject({ succeeded: true, step_count: 5 });

    const clock = new FakeClock();
    const operatorDid: string[] = [];
    clock.onSleep = async (ms) => {
      if (ms !== POLL_MS) return;
      const state = await procedure.read();
      if (state.status === "Held" && !operatorDid.includes("conduct-from")) {
        operatorDid.push("conduct-from");
        const plan = await procedure.conductFrom(1);
        expect(plan.replay.map((r) => [r.step_index, r.requires_operator])).toEqual([[1, false], [2, false], [3, true], [4, false]]);
      } else if (state.replay_awaiting_operator.includes(3)) {
        operatorDid.push("go-ahead");
        await procedure.goAhead(3);
      }
    };
    const log: string[] = [];
    // The gateway role alone: the state's replay_boundary says where the operator resumed.
    const gatewayToken = await tokenFor("gateway");
    const final = await runGateway({
      procedure: clientFor(gatewayToken, { clock }).procedure(registered.procedure_id),
      // A 20 K/s ramp: the 100 K setpoint takes 5 s, so it sends heartbeats every 2 s.
      instrument: new SimulatedInstrument({ clock, delays: { rampRate: 20, actionMs: 0, exposureMs: 0 }, faults: [{ kind: "offset", target: "zone.a", offset: -2.8 }] }),
      clock,
      log: (line) => log.push(line),
      pollMs: POLL_MS,
      heartbeatMs: 2_000,
    });

    expect(final).toMatchObject({ status: "Completed", completed_count: 5, step_count: 5, hold_claims: [] });
    expect(operatorDid).toEqual(["conduct-from", "go-ahead"]);
    expect(log.filter((line) => line.startsWith("report refused") || line.startsWith("heartbeats off"))).toEqual([]);
    const logbook = await logbookOf(registered.procedure_id, operatorToken);
    // The 5 s ramp of step 0 sent heartbeats, and the service kept them beside the step reports.
    expect(logbook.filter((entry) => entry.step_kind === "heartbeat").map((entry) => entry.payload.step_index)).toContain(0);
    const steps = logbook
      .filter((entry) => entry.step_kind !== "heartbeat")
      .map((entry) => [entry.payload.step_index, entry.payload.result]);
    expect(steps).toEqual([
      [0, "in_flight"], [0, "ok"], [1, "failed"],
      [1, "ok"], [2, "ok"], [3, "in_flight"], [3, "ok"], [4, "in_flight"], [4, "ok"],
    ]);
    const events = (await eventLog(registered.procedure_id)).map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(["ProcedureHeld", "ProcedureResumed", "ProcedureReplayStepAuthorized", "ProcedureCompleted"]));
    const held = (await eventLog(registered.procedure_id)).find((e) => e.type === "ProcedureHeld");
    expect(held?.payload).toMatchObject({ cause: "step-fault" });
  });

  it("gives an operator typed handles whose refusals carry the problem's error_class and write nothing", async () => {
    const operator = clientFor(await tokenFor("operator"));
    const procedure = operator.procedure(await registerProcedure({}, await tokenFor("operator")));
    expect((await procedure.start()).status).toBe("Running");
    const held = await procedure.hold("inspect the oven");
    expect(held).toMatchObject({ status: "Held", hold_claims: [{ cause: "operator" }] });

    const refusal = await procedure.hold("again").catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ProblemError);
    expect(isProblem(refusal, "ProcedureCannotHold")).toBe(true);
    expect((refusal as ProblemError).status).toBe(409);
    // The id to quote: the service's, in the problem body and the header alike.
    expect((refusal as ProblemError).request_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect((refusal as ProblemError).problem.request_id).toBe((refusal as ProblemError).request_id);
    expect((await procedure.read()).version).toBe(held.version);

    const missing = await procedure.manifest().catch((error: unknown) => error);
    expect(isProblem(missing, "ManifestNotFound")).toBe(true);
    expect(await procedure.resume(0)).toMatchObject({ status: "Running", hold_claims: [] });
  });
});
