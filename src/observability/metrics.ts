// Metrics through Workers Analytics Engine: one data point per request, per
// activity batch, per delivery attempt, per alarm job and per watcher tick,
// in one dataset (the METRICS binding). Each point's first blob names what it
// counts; the README lists every layout with the SQL that reads it. Pure: the
// sink is anything with writeDataPoint (the binding, or a test's recorder).

/** A data point as Analytics Engine takes it. */
export interface DataPoint {
  indexes?: string[];
  blobs?: Array<string | null>;
  doubles?: number[];
}

/** The Analytics Engine dataset binding's one method, or a stand-in with the same shape. */
export interface MetricsSink {
  writeDataPoint(point: DataPoint): void;
}

/** What the service measures; each kind has its own fixed blob and double order (toDataPoint). */
export type Metric =
  | {
      kind: "request";
      /** The route's operationId, or "unmatched" for a path no route serves. */
      operation: string;
      /** "ok" for a 2xx/3xx answer, else the problem's error_class. */
      outcome: string;
      /** The grant the route requires (HoldProcedure, AppendActivities, ...), or "" for none. */
      command: string;
      principal_id: string;
      status: number;
      duration_ms: number;
    }
  | { kind: "activity"; procedure_id: string; accepted: number; duplicates: number }
  | {
      kind: "delivery";
      outcome: "delivered" | "retrying" | "failed";
      event_type: string;
      subscription_id: string;
      latency_ms: number;
      /** 0 when the receiver gave no answer. */
      status_code: number;
      attempt: number;
    }
  | { kind: "job"; job: string; outcome: "done" | "failed"; procedure_id: string; duration_ms: number; attempts: number }
  | {
      kind: "tick";
      outcome: string;
      duration_ms: number;
      candidates: number;
      flagged: number;
      acted: number;
      archived: number;
      failures: number;
      rows_read: number;
    };

/** The fixed layout of each kind: blob1 is the kind, index1 what sampling keeps together. */
export function toDataPoint(metric: Metric): DataPoint {
  switch (metric.kind) {
    case "request":
      return {
        indexes: [metric.operation],
        blobs: ["request", metric.operation, metric.outcome, metric.command, metric.principal_id],
        doubles: [metric.status, metric.duration_ms],
      };
    case "activity":
      return { indexes: [metric.procedure_id], blobs: ["activity", metric.procedure_id], doubles: [metric.accepted, metric.duplicates] };
    case "delivery":
      return {
        indexes: [metric.subscription_id],
        blobs: ["delivery", metric.outcome, metric.event_type, metric.subscription_id],
        doubles: [metric.latency_ms, metric.status_code, metric.attempt],
      };
    case "job":
      return { indexes: [metric.job], blobs: ["job", metric.job, metric.outcome, metric.procedure_id], doubles: [metric.duration_ms, metric.attempts] };
    case "tick":
      return {
        indexes: ["tick"],
        blobs: ["tick", metric.outcome],
        doubles: [metric.duration_ms, metric.candidates, metric.flagged, metric.acted, metric.archived, metric.failures, metric.rows_read],
      };
  }
}

/** Writes metrics to the sink; a no-op when there is no sink (METRICS unbound) or metrics are off. */
export class Metrics {
  constructor(
    private readonly sink: MetricsSink | undefined,
    private readonly enabled = true,
  ) {}

  write(metric: Metric): void {
    if (!this.sink || !this.enabled) return;
    try {
      this.sink.writeDataPoint(toDataPoint(metric));
    } catch {
      // A metric is never worth a failed request, delivery or tick.
    }
  }
}
