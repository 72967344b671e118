// Archiving: the Cron Trigger asks each procedure finished longer than
// ARCHIVE_AFTER_SECONDS to archive itself; the object writes its export to the
// ARCHIVE bucket, verifies it, releases its storage to a tombstone, and marks
// the projection. Every step may be interrupted, and the retry converges with
// nothing lost. Archived procedures read the same, and refuse commands.
import { createScheduledController, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import type { ArchiveStep, ProcedureObject } from "../../src/procedure/object/object";
import { JOB_RETRY_MS } from "../../src/procedure/object/schedule";
import { archiveKey, DEFAULT_ARCHIVE_AFTER_SECONDS, parseRetentionConfig } from "../../src/retention/policy";
import { runArchivePass } from "../../src/retention/sweep";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { call, command, expectProblem, procedureStub, registerProcedure, summaryOf, tokenFor, userTables } from "../helpers";

const DAY = 86_400_000;
/** A tick's time at which everything finished today is due. */
const later = () => Date.now() + DEFAULT_ARCHIVE_AFTER_SECONDS * 1000 + DAY;

/** A conducted procedure run to Completed, with a logbook. */
async function completed(asset = "asset-1") {
  const id = await registerProcedure({ target_asset_ids: [asset] });
  expect((await conduct(id, { steps: [STEPS.setpoint, STEPS.capture] })).json.succeeded).toBe(true);
  const batch = [
    entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" }),
    entry({ step_kind: "setpoint", step_index: 0, result: "ok", payload: { step_index: 0, result: "ok", note: "ünïcödé" } }),
    entry({ step_kind: "capture", step_index: 1, result: "ok" }),
  ];
  expect((await post(id, batch)).status).toBe(200);
  return id;
}

/** Everything a reader sees of a procedure. */
async function reads(id: string) {
  const get = async (path: string) => {
    const result = await call(`/v1/procedures/${id}${path}`);
    return { status: result.status, body: result.json ?? result.text };
  };
  return {
    state: await get(""),
    events: await get("/events?limit=2"),
    events2: await get("/events?after=2&limit=500"),
    manifest: await get("/manifest"),
    resume: await get("/resume-point"),
    activities: await get("/activities?limit=2"),
    activities2: await get(`/activities?limit=500&cursor=${(await call(`/v1/procedures/${id}/activities?limit=2`)).json.next_cursor}`),
    export: await get("/export"),
  };
}

/** A completed procedure, archived: its reads from before, and its file's key and the file. */
async function archivedWithFile() {
  const id = await completed();
  await archive(id);
  const before = await reads(id);
  const key = archiveKey(id, before.state.body.registered_at);
  const file = (await env.ARCHIVE.get(key))!;
  return { id, before, key, file };
}

/** Every read that answers from the file is 503 ArchiveUnavailable, its detail holding `text`. */
async function expectUnavailable(id: string, text: string) {
  for (const path of ["/events", "/manifest", "/activities", "/export"]) {
    const answer = await call(`/v1/procedures/${id}${path}`);
    expectProblem(answer, 503, "ArchiveUnavailable");
    expect(answer.json.detail, path).toContain(text);
  }
}

/** Runs the Cron Trigger's archive pass at `nowMs`, then the object's due jobs (its alarm). */
async function archive(id: string, nowMs = later()) {
  await worker.scheduled(createScheduledController({ scheduledTime: nowMs, cron: "* * * * *" }), env);
  await runDurableObjectAlarm(procedureStub(id));
}

function setCheckpoint(id: string, failAt: ArchiveStep | null) {
  return runInDurableObject(procedureStub(id), (instance: ProcedureObject) => {
    instance.archiveCheckpoint = (step) => {
      if (step === failAt) throw new Error(`stopped after ${step}`);
    };
  });
}

function archiveJob(id: string) {
  return runInDurableObject(procedureStub(id), (_instance, state) => state.storage.sql.exec("SELECT attempts FROM schedule WHERE key = 'archive'").toArray()[0] ?? null);
}

/** Runs the archive job's retry: the object's clock moves past the longest backoff, and its alarm fires. */
function runArchiveJob(id: string) {
  return runInDurableObject(procedureStub(id), async (instance: ProcedureObject, state) => {
    const ahead = Math.max(...JOB_RETRY_MS);
    instance.clock = { now: () => Date.now() + ahead, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
    await state.storage.setAlarm(Date.now());
  }).then(() => runDurableObjectAlarm(procedureStub(id)));
}

const rowCount = (id: string) =>
  runInDurableObject(procedureStub(id), (_instance, state) => {
    const count = (table: string) => state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n;
    return { events: count("events"), logbook: count("logbook"), snapshot: count("snapshot"), manifest: count("manifest"), tombstone: count("tombstone") };
  });

describe("archiving a finished procedure", () => {
  it("writes its export gzip-compressed to the bucket with its digest, keeps a tombstone, and answers every read the same", async () => {
    const id = await completed();
    const before = await reads(id);
    expect(before.state.body).toMatchObject({ status: "Completed", archived_at: null });

    await archive(id);

    const state = (await call(`/v1/procedures/${id}`)).json;
    const key = archiveKey(id, state.registered_at);
    expect(key).toMatch(new RegExp(`^procedures/\\d{4}/\\d{2}/${id}\\.jsonl\\.gz$`));
    const object = await env.ARCHIVE.get(key);
    expect(object).not.toBeNull();
    const text = await new Response(object!.body.pipeThrough(new DecompressionStream("gzip"))).text();
    expect(text).toBe(before.export.body);
    const digest = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(object!.customMetadata).toEqual({ sha256: digest, lines: String(text.split("\n").length - 1) });

    // Storage released to the tombstone.
    expect(await rowCount(id)).toEqual({ events: 0, logbook: 0, snapshot: 0, manifest: 0, tombstone: 1 });

    // Every read answers the same, with archived_at in the state.
    const after = await reads(id);
    expect(after.state.body.archived_at).toEqual(expect.any(String));
    expect(after.state.body).toEqual({ ...before.state.body, archived_at: after.state.body.archived_at });
    for (const read of ["events", "events2", "manifest", "resume", "activities", "activities2"] as const) expect(after[read], read).toEqual(before[read]);
    const exported = (after.export.body as string).split("\n");
    const original = (before.export.body as string).split("\n");
    expect(JSON.parse(exported[0]!)).toEqual({ ...JSON.parse(original[0]!), archived_at: after.state.body.archived_at });
    expect(exported.slice(1)).toEqual(original.slice(1));

    // The list keeps the row, with archived_at.
    expect(await summaryOf(id)).toMatchObject({ status: "Completed", archived_at: after.state.body.archived_at });
    const listed = (await call(`/v1/procedures?status=Completed&limit=100`)).json.items.find((row: { procedure_id: string }) => row.procedure_id === id);
    expect(listed).toMatchObject({ archived_at: after.state.body.archived_at });
    expect(listed).not.toHaveProperty("archive_requested_at");
  });

  it("archives a large logbook page by page and pages it back from the file the same", async () => {
    const id = await registerProcedure();
    expect((await command(id, "start")).status).toBe(200);
    await runInDurableObject(procedureStub(id), (_instance, state) => {
      const sql = state.storage.sql;
      for (let i = 0; i < 3_500; i += 1) {
        sql.exec(
          `INSERT INTO logbook (event_id, step_kind, payload, sampled_at, occurred_at, recorded_at, principal_id, at_version, batch)
           VALUES (?, 'note', ?, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'seed', 2, 0)`,
          crypto.randomUUID(),
          JSON.stringify({ i, text: crypto.randomUUID() }),
        );
      }
    });
    expect((await command(id, "complete")).status).toBe(200);
    const pages = async () => {
      const seen: unknown[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: unknown[]; next_cursor: string | null } = (await call(`/v1/procedures/${id}/activities?limit=500${cursor ? `&cursor=${cursor}` : ""}`)).json;
        seen.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor !== null);
      return seen;
    };
    const before = await pages();
    const exported = (await call(`/v1/procedures/${id}/export`)).text;
    await archive(id);
    expect((await rowCount(id)).tombstone).toBe(1);
    expect(await pages()).toEqual(before);
    const after = (await call(`/v1/procedures/${id}/export`)).text;
    expect(after.split("\n").slice(1)).toEqual(exported.split("\n").slice(1));
    expect(after.split("\n")).toHaveLength(1 + 3 + 3_500 + 1);
  });

  it("refuses every command on an archived procedure with 409 ProcedureArchived, writing nothing", async () => {
    const id = await completed();
    await archive(id);
    const before = await reads(id);
    for (const [name, body] of [["hold", { reason: "x" }], ["resume", { re_establishment_boundary: 0 }], ["abort", { reason: "x" }], ["truncate", { reason: "x" }], ["complete", undefined], ["start", undefined], ["conduct-from", { re_establishment_boundary: 0 }], ["go-ahead", { step_index: 0 }]] as const) {
      expectProblem(await call(`/v1/procedures/${id}/${name}`, { method: "POST", body }), 409, "ProcedureArchived");
    }
    expectProblem(await call(`/v1/procedures/${id}/conduct`, { body: { steps: [STEPS.capture] } }), 409, "ProcedureArchived");
    expectProblem(await post(id, [entry({ step_kind: "capture", step_index: 1 })], await tokenFor("gateway")), 409, "ProcedureArchived");
    expectProblem(await call(`/v1/procedures/${id}/stream-ticket`, { method: "POST" }), 409, "ProcedureArchived");
    expectProblem(await call(`/v1/procedures/${id}/stream`, { headers: { accept: "text/event-stream" } }), 409, "ProcedureArchived");
    expect(await reads(id)).toEqual(before);
    expect(await rowCount(id)).toEqual({ events: 0, logbook: 0, snapshot: 0, manifest: 0, tombstone: 1 });
  });

  it("answers 503 ArchiveUnavailable while the file is missing from the bucket, and the same reads again once it is restored", async () => {
    const { id, before, key, file } = await archivedWithFile();
    const saved = { bytes: await file.arrayBuffer(), customMetadata: file.customMetadata!, httpMetadata: file.httpMetadata! };
    await env.ARCHIVE.delete(key);
    await expectUnavailable(id, key);
    // What the tombstone holds still answers.
    expect((await call(`/v1/procedures/${id}`)).json).toEqual(before.state.body);
    expect((await call(`/v1/procedures/${id}/resume-point`)).status).toBe(200);
    await env.ARCHIVE.put(key, saved.bytes, { customMetadata: saved.customMetadata, httpMetadata: saved.httpMetadata });
    expect(await reads(id)).toEqual(before);
  });

  it("answers 503 ArchiveUnavailable for a file that is not the one archived, and serves it again once the right copy is back", async () => {
    const { id, before, key, file } = await archivedWithFile();
    const text = await new Response(file.body.pipeThrough(new DecompressionStream("gzip"))).text();
    // A copy put back by hand, without the metadata the service wrote, one event renamed.
    const tampered = text.replace('"type":"ProcedureCompleted"', '"type":"ProcedureRenamed"');
    expect(tampered).not.toBe(text);
    const gzip = (body: string) => new Response(new Blob([body]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    await env.ARCHIVE.put(key, await gzip(tampered));
    await expectUnavailable(id, "not the");
    // The same content without its metadata is the archived file: it is served.
    await env.ARCHIVE.put(key, await gzip(text));
    expect(await reads(id)).toEqual(before);
  });

  it("still hides an archived procedure outside a scoped principal's scopes", async () => {
    const id = await completed("asset-archive-outside");
    await archive(id);
    const scoped = await call("/v1/principals", { body: { name: "archive scoped", roles: ["operator"], scopes: { target_asset_ids: ["asset-archive-inside"] } } });
    for (const path of ["", "/events", "/export", "/activities", "/manifest"]) expectProblem(await call(`/v1/procedures/${id}${path}`, { token: scoped.json.token }), 404, "ProcedureNotFound");
    expectProblem(await call(`/v1/procedures/${id}/hold`, { body: { reason: "x" }, token: scoped.json.token }), 404, "ProcedureNotFound");
  });

  it("leaves a procedure that is not finished, or finished too recently, live", async () => {
    const running = await registerProcedure();
    expect((await command(running, "start")).status).toBe(200);
    expect(await procedureStub(running).requestArchive(later())).toBe(false);
    const recent = await completed();
    await archive(recent, Date.now() + DEFAULT_ARCHIVE_AFTER_SECONDS * 1000 - DAY);
    expect(await procedureStub(recent).requestArchive(Date.now() + DEFAULT_ARCHIVE_AFTER_SECONDS * 1000 - DAY)).toBe(false);
    expect((await call(`/v1/procedures/${running}`)).json).toMatchObject({ status: "Running", archived_at: null });
    expect((await call(`/v1/procedures/${recent}`)).json).toMatchObject({ status: "Completed", archived_at: null });
    expect(await summaryOf(recent)).toMatchObject({ archive_requested_at: null, archived_at: null });
    expect(await archiveJob(recent)).toBeNull();
    expect((await rowCount(running)).tombstone).toBe(0);
  });

  it.each<ArchiveStep>(["written", "verified"])("keeps the live record when archiving stops after the file is %s, and the retry converges", async (step) => {
    const id = await completed();
    const before = await reads(id);
    await setCheckpoint(id, step);
    await archive(id);
    // Interrupted: the live record is whole, the job is still scheduled, the list does not say archived.
    expect(await reads(id)).toEqual(before);
    expect((await rowCount(id)).events).toBeGreaterThan(0);
    expect(await archiveJob(id)).toEqual({ attempts: 1 });
    expect(await summaryOf(id)).toMatchObject({ archived_at: null, archive_requested_at: expect.any(String) });

    await setCheckpoint(id, null);
    await runArchiveJob(id);
    expect(await archiveJob(id)).toBeNull();
    const after = await reads(id);
    expect(after.state.body.archived_at).toEqual(expect.any(String));
    for (const read of ["events", "events2", "manifest", "resume", "activities", "activities2"] as const) expect(after[read], read).toEqual(before[read]);
    expect((after.export.body as string).split("\n").slice(1)).toEqual((before.export.body as string).split("\n").slice(1));
  });

  it("finishes an archive whose projection mark failed after the release, from the tombstone alone", async () => {
    const id = await completed();
    const before = await reads(id);
    await runInDurableObject(procedureStub(id), (instance: ProcedureObject) => {
      instance.markArchived = () => Promise.reject(new Error("D1 unavailable"));
    });
    await archive(id);
    expect(await rowCount(id)).toEqual({ events: 0, logbook: 0, snapshot: 0, manifest: 0, tombstone: 1 });
    expect(await archiveJob(id)).toEqual({ attempts: 1 });
    expect(await summaryOf(id)).toMatchObject({ archived_at: null });
    // Reads already answer from the archive.
    expect((await reads(id)).events).toEqual(before.events);

    await runInDurableObject(procedureStub(id), (instance: ProcedureObject, state) => {
      instance.markArchived = (procedureId, at) => env.DB.prepare("UPDATE procedure_summary SET archived_at = ? WHERE procedure_id = ?").bind(at, procedureId).run().then(() => {});
      void state;
    });
    await runArchiveJob(id);
    expect(await archiveJob(id)).toBeNull();
    expect((await summaryOf(id))!.archived_at).toBe((await call(`/v1/procedures/${id}`)).json.archived_at);
  });

  it("keeps the live record when the file reads back different from what was written", async () => {
    const id = await completed();
    const before = await reads(id);
    // The file changes under the object between its write and its read-back (a faulty store).
    await runInDurableObject(procedureStub(id), (instance: ProcedureObject) => {
      instance.archiveCheckpoint = async (step) => {
        if (step !== "written") return;
        const key = archiveKey(id, (before.state.body as { registered_at: string }).registered_at);
        const original = await env.ARCHIVE.get(key);
        const other = await new Response(new Response("{}\n").body!.pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
        await env.ARCHIVE.put(key, other, { customMetadata: original!.customMetadata! });
      };
    });
    await archive(id);
    expect(await reads(id)).toEqual(before);
    expect((await rowCount(id)).tombstone).toBe(0);
    expect(await archiveJob(id)).toEqual({ attempts: 1 });
  });

  it("reads a bounded batch per pass, oldest finish first, on its index, whatever the population", async () => {
    const ids = [await completed(), await completed(), await completed()];
    // A population of finished procedures far larger than a batch, finished long before.
    const seeded = Array.from({ length: 300 }, (_, i) => `00000000-0000-7000-8000-${String(i).padStart(12, "0")}`);
    const at = (i: number) => new Date(Date.UTC(2020, 0, 1) + i * 1000).toISOString();
    await env.DB.batch(
      seeded.map((id, i) =>
        env.DB.prepare(
          `INSERT INTO procedure_summary (procedure_id, name, kind, target_asset_ids, status, registered_at, last_status_changed_at, hold_causes, version, updated_at)
           VALUES (?1, 'seeded', 'k', '["asset-seeded"]', 'Completed', ?2, ?2, '[]', 3, ?2)`,
        ).bind(id, at(i)),
      ),
    );
    const requested: string[] = [];
    const deps = { d1: env.DB, config: parseRetentionConfig({}), nowMs: later(), requestArchive: async (id: string) => (requested.push(id), true) };
    const pass = await runArchivePass({ ...deps, batch: 2 });
    expect(pass).toMatchObject({ candidates: 2, requested: 2, rows_written: 2 });
    expect(requested.sort()).toEqual(seeded.slice(0, 2));
    // Reading the batch and marking it: a few rows per candidate, not the population.
    expect(pass.rows_read).toBeLessThanOrEqual(2 * 6);
    const plan = await env.DB.prepare(
      `EXPLAIN QUERY PLAN SELECT procedure_id FROM procedure_summary INDEXED BY procedure_summary_archive
       WHERE archive_requested_at IS NULL AND status IN ('Completed', 'Aborted', 'Truncated') AND last_status_changed_at <= ?1
       ORDER BY last_status_changed_at, procedure_id LIMIT ?2`,
    ).bind(new Date(deps.nowMs).toISOString(), 2).all<{ detail: string }>();
    expect(plan.results.map((r) => r.detail).join(" ")).toContain("procedure_summary_archive");
    expect(plan.results.map((r) => r.detail).join(" ")).not.toContain("TEMP B-TREE");

    // The handed-over rows left the index: the next passes take up where this one stopped, each row once.
    for (let i = 0; i < 4; i += 1) await runArchivePass({ ...deps, batch: 100 });
    expect(new Set(requested).size).toBe(requested.length);
    for (const id of [...seeded, ...ids]) expect(requested).toContain(id);
  });

  it("leaves nothing in a never-registered object it is asked about", async () => {
    const id = crypto.randomUUID();
    expect(await procedureStub(id).requestArchive(later())).toBe(false);
    expect(await userTables(id)).toEqual([]);
  });
});
