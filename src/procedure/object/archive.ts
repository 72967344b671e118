// A procedure's archive: its export, gzip-compressed, in the ARCHIVE bucket,
// and the tombstone its object keeps once its live storage is released. The
// object archives itself from its schedule in steps that each leave a whole
// record behind: write the file, read it back and check it against what was
// written, then (one transaction) replace the live storage with the
// tombstone, then mark the projection. A crash between any two steps leaves
// the live record (and the job, which runs again and overwrites the file) or
// a verified file and the tombstone naming it.
import { utf8Length } from "../../json";
import { splitPage } from "../../paging";
import type { ExportPage } from "./export";
import type { ResumePoint } from "../contract";
import type { ProcedureState } from "../state";
import type { ProcedureView } from "../view";

export const ARCHIVE_JOB = "archive";

/** What the archive's custom metadata and the tombstone say about the file: its content's hash and length. */
export interface ArchiveDigest {
  /** SHA-256 (hex) of the uncompressed JSON Lines. */
  sha256: string;
  /** How many lines (records) the file holds. */
  lines: number;
}

/** What an archived procedure's object keeps: where its record is, and what its cheap reads answer. */
export interface Tombstone extends ArchiveDigest {
  archive_key: string;
  archived_at: string;
  /** The last state, as the object kept it: scope checks and refusals need no read of the file. */
  state: ProcedureState;
  /** The state as readers saw it when it was archived (the file's first line). */
  view: ProcedureView;
  /** The resume point when it was archived, or null without a manifest. */
  resume_point: ResumePoint | null;
}

const encoder = new TextEncoder();

/** The bytes of one export page. */
function pageBytes(lines: readonly string[]): Uint8Array {
  return encoder.encode(lines.map((line) => `${line}\n`).join(""));
}

const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** Counts the bytes a stream yields, discarding them. */
async function byteLength(stream: ReadableStream<Uint8Array>): Promise<number> {
  let length = 0;
  for await (const chunk of stream) length += chunk.byteLength;
  return length;
}

/** A readable of the export's pages, one chunk per page, read on demand. */
function pagesStream(pages: () => AsyncIterable<ExportPage["lines"]>): ReadableStream<Uint8Array> {
  const iterator = pages()[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(pageBytes(next.value));
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Writes the export to `key`, gzip-compressed, with its digest in the
 * object's custom metadata. Two passes over the record, so memory stays
 * bounded: the first hashes and counts it and learns the compressed length,
 * the second streams the same bytes into a put of that known length (R2
 * takes a stream only when its length is known). The record of a finished
 * procedure does not change between the passes.
 */
export async function writeArchive(bucket: R2Bucket, key: string, pages: () => AsyncIterable<string[]>): Promise<ArchiveDigest> {
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  let lines = 0;
  const counted = pagesStream(async function* () {
    for await (const page of pages()) {
      lines += page.length;
      await writer.write(pageBytes(page));
      yield page;
    }
  });
  const compressedLength = await byteLength(counted.pipeThrough(new CompressionStream("gzip")));
  await writer.close();
  const written: ArchiveDigest = { sha256: hex(await digest.digest), lines };

  const sized = new FixedLengthStream(compressedLength);
  const [, put] = await Promise.all([
    pagesStream(pages).pipeThrough(new CompressionStream("gzip")).pipeTo(sized.writable),
    bucket.put(key, sized.readable, {
      httpMetadata: { contentType: "application/x-ndjson", contentEncoding: "gzip" },
      customMetadata: { sha256: written.sha256, lines: String(written.lines) },
    }),
  ]);
  if (!put) throw new Error(`the archive ${key} was not written`);
  return written;
}

/** The archive file is not in the bucket: its reads answer ArchiveUnavailable, never a bare 500. */
export class ArchiveMissing extends Error {
  constructor(readonly key: string) {
    super(`the archive ${key} is missing from the ARCHIVE bucket`);
  }
}

/** The archive file is not what was archived (a damaged or wrong copy restored): its reads answer ArchiveUnavailable too. */
export class ArchiveMismatch extends Error {
  constructor(key: string, found: ArchiveDigest, expected: ArchiveDigest) {
    super(`the archive ${key} holds ${found.lines} lines with SHA-256 ${found.sha256}, not the ${expected.lines} lines with SHA-256 ${expected.sha256} that were archived`);
  }
}

/** What an ArchiveUnavailable refusal says: why, and what an operator does about it. */
export function archiveUnavailable(reason: string): string {
  return `${reason}: restore the file from a copy (see the README, "Archived procedures, and restoring one by hand")`;
}

/** The decompressed content's SHA-256 and line count. */
async function contentDigest(object: R2ObjectBody): Promise<ArchiveDigest> {
  const digest = new crypto.DigestStream("SHA-256");
  let lines = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      for (const byte of chunk) if (byte === 0x0a) lines += 1;
      controller.enqueue(chunk);
    },
  });
  await object.body.pipeThrough(new DecompressionStream("gzip")).pipeThrough(counter).pipeTo(digest);
  return { sha256: hex(await digest.digest), lines };
}

/**
 * Checks, before a read, that the file at `key` holds what was archived
 * (`expected`, which the tombstone keeps: a copy restored by hand carries no
 * metadata of its own). A file already checked under its etag (`checked`) is
 * not read again. Answers the etag checked; throws ArchiveMissing or
 * ArchiveMismatch.
 */
export async function checkArchive(bucket: R2Bucket, key: string, expected: ArchiveDigest, checked: string | null): Promise<string> {
  const head = await bucket.head(key);
  if (!head) throw new ArchiveMissing(key);
  if (head.etag === checked) return head.etag;
  const object = await bucket.get(key);
  if (!object) throw new ArchiveMissing(key);
  const found = await contentDigest(object);
  if (found.sha256 !== expected.sha256 || found.lines !== expected.lines) throw new ArchiveMismatch(key, found, expected);
  return object.etag;
}

/** The file's records, one line at a time, decompressed as they are read. */
export async function* archiveLines(bucket: R2Bucket, key: string): AsyncGenerator<string> {
  const object = await bucket.get(key);
  if (!object) throw new ArchiveMissing(key);
  const text = object.body.pipeThrough(new DecompressionStream("gzip")).pipeThrough(new TextDecoderStream());
  let rest = "";
  for await (const chunk of text) {
    rest += chunk;
    let end = rest.indexOf("\n");
    while (end >= 0) {
      yield rest.slice(0, end);
      rest = rest.slice(end + 1);
      end = rest.indexOf("\n");
    }
  }
  if (rest !== "") yield rest;
}

/**
 * Reads the file back and checks it against what was written: its metadata,
 * then its decompressed content's hash and line count. Throws on any
 * difference, so the live record is kept and the job tries again.
 */
export async function verifyArchive(bucket: R2Bucket, key: string, expected: ArchiveDigest): Promise<void> {
  const head = await bucket.head(key);
  if (!head) throw new Error(`the archive ${key} is missing`);
  if (head.customMetadata?.sha256 !== expected.sha256 || head.customMetadata?.lines !== String(expected.lines)) {
    throw new Error(`the archive ${key} has metadata ${JSON.stringify(head.customMetadata)}, expected ${JSON.stringify(expected)}`);
  }
  const object = await bucket.get(key);
  if (!object) throw new Error(`the archive ${key} is missing`);
  const { sha256, lines } = await contentDigest(object);
  if (sha256 !== expected.sha256 || lines !== expected.lines) {
    throw new Error(`the archive ${key} reads back as ${sha256} with ${lines} lines, expected ${expected.sha256} with ${expected.lines}`);
  }
}

// ---- reads of an archived procedure, from its file ----------------------------
// Each walks the file from its start (an archived procedure is read seldom),
// parses only the lines of the section it answers from, and keeps at most a
// page in memory.

type Line = { record: string } & Record<string, unknown>;

const isRecord = (line: string, record: string) => line.startsWith(`{"record":"${record}"`);

function body({ record: _record, ...rest }: Line): Record<string, unknown> {
  return rest;
}

/** A page of events after version `after`, in version order, as the live read pages them. */
export async function archivedEvents(lines: AsyncIterable<string>, after: number, limit: number): Promise<{ items: Record<string, unknown>[]; next: string | null }> {
  const fetched: Record<string, unknown>[] = [];
  for await (const line of lines) {
    if (isRecord(line, "state")) continue;
    if (!isRecord(line, "event")) break;
    const event = body(JSON.parse(line) as Line);
    if ((event.version as number) <= after) continue;
    fetched.push(event);
    if (fetched.length > limit) break;
  }
  const { rows: items, next } = splitPage(fetched, limit, (event) => String(event.version));
  return { items, next };
}

/** The pinned manifest line, or null when the record has none. */
export async function archivedManifest(lines: AsyncIterable<string>): Promise<Record<string, unknown> | null> {
  for await (const line of lines) {
    if (isRecord(line, "manifest")) return body(JSON.parse(line) as Line);
    if (isRecord(line, "activity")) return null;
  }
  return null;
}

/**
 * A page of the logbook, newest first, as the live read pages it: the
 * cursor is the position of the last entry returned (1 for the first entry
 * recorded), and a page also stops at `maxBytes` of payloads.
 */
export async function archivedActivities(
  lines: AsyncIterable<string>,
  before: number | null,
  limit: number,
  maxBytes: number,
): Promise<{ items: Record<string, unknown>[]; next: string | null }> {
  // The newest limit + 1 entries before the cursor, as raw lines with their positions.
  const window: Array<{ at: number; line: string }> = [];
  let at = 0;
  for await (const line of lines) {
    if (!isRecord(line, "activity")) continue;
    at += 1;
    if (before !== null && at >= before) break;
    window.push({ at, line });
    if (window.length > limit + 1) window.shift();
  }
  window.reverse();
  const items: Record<string, unknown>[] = [];
  let bytes = 0;
  let last = 0;
  for (const { at: position, line } of window.slice(0, limit)) {
    bytes += utf8Length(line);
    if (bytes > maxBytes && items.length > 0) break;
    items.push(body(JSON.parse(line) as Line));
    last = position;
  }
  const more = window.length > items.length;
  return { items, next: more ? String(last) : null };
}
