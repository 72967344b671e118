// A simulated instrument for the reference gateway: motors (`stage.*`,
// `motor.*`) that travel at a speed, a temperature controller (`zone.*`,
// `oven.*`) that ramps at a rate, a detector (`detector*`) that exposes for a
// while, plain registers for any other address, and actions and computes that
// take a fixed time. Faults make chosen operations go wrong a chosen number
// of times, so a run can show a hold and a resume.
import type { Clock } from "../../clients/typescript/src/index.ts";

/** An instrument failure, reported as the step's `error_class` and `message`. */
export class InstrumentError extends Error {
  readonly errorClass: string;

  constructor(errorClass: string, message: string) {
    super(message);
    this.name = "InstrumentError";
    this.errorClass = errorClass;
  }
}

export type Fault =
  /** Reads of `target` are off by `offset` (a drifting sensor). */
  | { kind: "offset"; target: string; offset: number; times?: number }
  /** Operations on `target` (an address or an action's name) throw `errorClass`. */
  | { kind: "error"; target: string; errorClass: string; times?: number };

export interface Delays {
  /** Motor speed, units per second. */
  motorSpeed: number;
  /** Temperature ramp, kelvin per second. */
  rampRate: number;
  actionMs: number;
  exposureMs: number;
  computeMs: number;
}

/** Delays of a quick bench instrument; a real one is far slower. */
export const DEFAULT_DELAYS: Delays = { motorSpeed: 10, rampRate: 50, actionMs: 500, exposureMs: 200, computeMs: 1000 };
/** No delay at all: for tests and for measuring the gateway's own overhead. */
export const NO_DELAYS: Delays = { motorSpeed: Infinity, rampRate: Infinity, actionMs: 0, exposureMs: 0, computeMs: 0 };

export type Progress = (fraction: number) => void;

/** What the gateway needs from an instrument. */
export interface Instrument {
  set(address: string, value: number, onProgress: Progress): Promise<void>;
  read(address: string): Promise<number>;
  act(name: string, params: Record<string, unknown>, onProgress: Progress): Promise<void>;
  capture(address: string, captureName: string): Promise<Record<string, unknown>>;
  compute(command: string[], parameters: Record<string, unknown>, onProgress: Progress): Promise<Record<string, unknown>>;
}

type Device = "motor" | "temperature" | "detector" | "register";

function deviceOf(address: string): Device {
  if (/^(stage|motor)\./.test(address)) return "motor";
  if (/^(zone|oven)\./.test(address)) return "temperature";
  if (address.startsWith("detector")) return "detector";
  return "register";
}

/** Progress is reported this often during a long operation. */
const TICK_MS = 250;

export class SimulatedInstrument implements Instrument {
  readonly values = new Map<string, number>();
  readonly #clock: Clock;
  readonly #delays: Delays;
  readonly #faults: Array<Fault & { left: number }>;
  #frames = 0;

  constructor(options: { clock: Clock; delays?: Partial<Delays>; faults?: Fault[]; initial?: Record<string, number> }) {
    this.#clock = options.clock;
    this.#delays = { ...DEFAULT_DELAYS, ...options.delays };
    this.#faults = (options.faults ?? []).map((fault) => ({ ...fault, left: fault.times ?? 1 }));
    for (const [address, value] of Object.entries(options.initial ?? {})) this.values.set(address, value);
  }

  async set(address: string, value: number, onProgress: Progress): Promise<void> {
    this.#raise(address);
    const from = this.values.get(address) ?? (deviceOf(address) === "temperature" ? 20 : 0);
    const rate = deviceOf(address) === "motor" ? this.#delays.motorSpeed : deviceOf(address) === "temperature" ? this.#delays.rampRate : Infinity;
    await this.#take((Math.abs(value - from) / rate) * 1000, (fraction) => {
      this.values.set(address, from + (value - from) * fraction);
      onProgress(fraction);
    });
    this.values.set(address, value);
  }

  async read(address: string): Promise<number> {
    this.#raise(address);
    const offset = this.#consume("offset", address);
    return (this.values.get(address) ?? 0) + (offset?.kind === "offset" ? offset.offset : 0);
  }

  async act(name: string, _params: Record<string, unknown>, onProgress: Progress): Promise<void> {
    this.#raise(name);
    await this.#take(this.#delays.actionMs, onProgress);
  }

  async capture(address: string, captureName: string): Promise<Record<string, unknown>> {
    this.#raise(address);
    await this.#take(this.#delays.exposureMs, () => {});
    this.#frames += 1;
    return { capture_name: captureName, frame: this.#frames, exposure_ms: this.#delays.exposureMs, counts: 1000 + ((this.#frames * 7919) % 500) };
  }

  async compute(command: string[], _parameters: Record<string, unknown>, onProgress: Progress): Promise<Record<string, unknown>> {
    this.#raise(command[0] ?? "");
    await this.#take(this.#delays.computeMs, onProgress);
    return { exit_code: 0 };
  }

  #raise(target: string): void {
    const fault = this.#consume("error", target);
    if (fault?.kind === "error") throw new InstrumentError(fault.errorClass, `${target}: simulated ${fault.errorClass}`);
  }

  #consume(kind: Fault["kind"], target: string) {
    const fault = this.#faults.find((f) => f.kind === kind && f.target === target && f.left > 0);
    if (fault) fault.left -= 1;
    return fault;
  }

  /** Spends `ms` on the clock in ticks, reporting the fraction done. */
  async #take(ms: number, onProgress: Progress): Promise<void> {
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    const start = this.#clock.now();
    for (let elapsed = 0; elapsed < ms; elapsed = this.#clock.now() - start) {
      await this.#clock.sleep(Math.min(TICK_MS, ms - elapsed));
      onProgress(Math.min(1, (this.#clock.now() - start) / ms));
    }
  }
}

/** Parses `--fault` specs: `offset:<target>:<offset>[:times]` or `error:<target>:<ErrorClass>[:times]`. */
export function parseFault(spec: string): Fault {
  const [kind, target, value, times] = spec.split(":");
  const count = times === undefined ? undefined : Number(times);
  if (!target || value === undefined || (count !== undefined && !(Number.isInteger(count) && count > 0))) {
    throw new Error(`bad fault ${JSON.stringify(spec)}: use offset:<target>:<offset>[:times] or error:<target>:<ErrorClass>[:times]`);
  }
  if (kind === "offset" && Number.isFinite(Number(value))) return { kind, target, offset: Number(value), ...(count ? { times: count } : {}) };
  if (kind === "error") return { kind, target, errorClass: value, ...(count ? { times: count } : {}) };
  throw new Error(`bad fault ${JSON.stringify(spec)}: the kind is offset or error`);
}
