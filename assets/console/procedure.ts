// One procedure: its state and hold claims, the pinned steps with their state
// from the logbook and the suggested resume boundary, the event log, the
// logbook, and the commands the caller may run. Follows the procedure's live
// stream while open, and polls only while the stream is down. The stream and
// the reads race (a read started before a streamed state may end after it), so
// a state older than the one shown is never shown over it. An archived
// procedure is read once (each read answers from its archive file): no
// stream, no polling, no commands.
import { query } from "./api";
import { actionButtons, goAheadButton } from "./actions";
import { archivedBadge, between, card, collapsed, duration, h, progressBar, statusBadge, time } from "./dom";
import { followProcedure } from "./live";
import { LogbookReader } from "./logbook";
import { PrincipalNames } from "./names";
import { isFinished } from "../../src/vocabulary";
import { isStallCurrent, stallWarning, stepStates } from "./progress";
import { describeStep, pastLastStep, readableReason, replayWords, stepLabel, STATE_LABELS } from "./steps";
import type { Decision, Manifest, Page, Procedure, ProcedureEvent, ResumePoint } from "./types";
import { patch, type View, type ViewContext } from "./view";

const EVENTS_SHOWN = 100;

/** Each event in plain words; the contract's name stays in the row's title. */
export const EVENT_LABELS: Record<string, string> = {
  ProcedureRegistered: "Registered",
  ResolvedStepsRecorded: "Steps resolved and pinned",
  ProcedureStarted: "Started",
  ProcedureActivitiesLogbookOpened: "Logbook opened for the gateway's reports",
  ProcedureHeld: "Held",
  ProcedureHoldClaimReleased: "A hold claim released",
  ProcedureResumed: "Resumed",
  ProcedureCompleted: "Completed",
  ProcedureAborted: "Aborted",
  ProcedureTruncated: "Truncated",
  ProcedureReplayStepAuthorized: "Go-ahead given for a replayed step",
  ProcedureStepOverdue: "A step passed its deadline",
};

const DETAIL_WORDS: Record<string, (value: unknown) => string> = {
  reason: (v) => `reason: ${readableReason(String(v))}`,
  cause: (v) => `cause: ${String(v)}`,
  re_establishment_boundary: (v) => `from step ${stepLabel(Number(v))}`,
  step_index: (v) => `step ${stepLabel(Number(v))}`,
  deadline_seconds: (v) => `deadline ${String(v)} s`,
  on_failure: (v) => `on a failed step: ${v === "hold" ? "hold" : "abort"}`,
  on_stall: (v) => `on a stall: ${v === "hold" ? "hold" : "flag only"}`,
};

/** The event's details in words, and how long the hold it ends lasted. */
function eventDetail(event: ProcedureEvent, previous: readonly ProcedureEvent[]): string {
  const p = event.payload;
  const parts = Object.entries(DETAIL_WORDS)
    .filter(([key]) => p[key] !== undefined && p[key] !== null)
    .map(([key, words]) => words(p[key]));
  if (event.type === "ProcedureResumed") {
    const held = previous.findLast((e) => e.type === "ProcedureHeld" && e.version < event.version);
    if (held) parts.push(`after a hold of ${between(held.occurred_at, event.occurred_at)}`);
  }
  if (event.type === "ResolvedStepsRecorded" && Array.isArray(p.resolved_steps)) {
    const count = p.resolved_steps.length + (Array.isArray(p.resolved_closing_steps) ? p.resolved_closing_steps.length : 0);
    parts.unshift(count === 1 ? "1 step" : `${count} steps`);
  }
  return parts.join(" · ");
}

export function procedureView(ctx: ViewContext, procedureId: string): View {
  const logbook = ctx.can("ReadProcedureActivities") ? new LogbookReader(ctx.api, procedureId) : null;
  const names = new PrincipalNames(ctx.api, ctx.can("ReadPrincipalNames"));
  const events: ProcedureEvent[] = [];
  let manifest: Manifest | null = null;

  let shown: { p: Procedure; rp: ResumePoint | null; stall: Decision | undefined } | null = null;
  let streaming = false;
  /** True once a state from the stream is shown; false again while the stream is down. */
  let following = false;
  /** True once the state read says the procedure is archived: nothing more to follow. */
  let archived = false;
  /** True once the page is left: a read still under way must not start the stream. */
  let closed = false;
  let stopFollowing: (() => void) | null = null;

  const title = h("h1", { id: "view-title", tabindex: -1 }, "Procedure");
  const liveStatus = h("p", { class: "muted live-status", id: "live-status" }, "Connecting to the live stream…");
  const summary = h("div", { class: "summary" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Commands" });
  const steps = h("div");
  const eventLog = h("div", { class: "table-wrap" });
  const logbookView = h("div", { class: "table-wrap" });
  const element = h(
    "section",
    { "aria-labelledby": "view-title" },
    h("p", {}, h("a", { href: "#/" }, "← Fleet")),
    title,
    liveStatus,
    summary,
    actions,
    card("Steps", "steps-title", steps),
    card("Event log", "events-title", eventLog),
    card("Logbook", "logbook-title", h("p", { class: "muted" }, "The newest entries first."), logbookView),
  );

  function renderSummary(p: Procedure, stall: Decision | undefined, rp: ResumePoint | null) {
    title.textContent = p.name;
    const heldFor = p.status === "Held" && p.last_status_changed_at ? duration(Date.now() - Date.parse(p.last_status_changed_at)) : null;
    // The state names the open Stall decision; its reasoning comes from the decision when the caller may read it.
    const open = p.open_stall_decision_id !== null ? (stall?.id === p.open_stall_decision_id ? stall : undefined) : undefined;
    const holders = p.hold_claims.map((claim) => ({ claim, holder: holderOf(claim.claim_id) }));
    patch(summary, JSON.stringify([p, open?.id, rp?.suggested_boundary, heldFor, holders]), () => [
      h(
        "dl",
        { class: "facts" },
        h("div", {}, h("dt", {}, "Status"), h("dd", { id: "procedure-status" }, statusBadge(p.status), p.archived_at ? archivedBadge(p.archived_at) : null, p.open_stall_decision_id !== null ? h("span", { class: "badge stall", title: open?.reasoning ?? "" }, "Stalled") : null)),
        h("div", {}, h("dt", {}, "Progress"), h("dd", {}, progressBar(p.completed_count, p.step_count))),
        h("div", {}, h("dt", {}, "Kind"), h("dd", {}, p.kind)),
        h("div", {}, h("dt", {}, "Assets"), h("dd", {}, p.target_asset_ids.join(", ") || "—")),
        h(
          "div",
          {},
          h("dt", {}, "Last change"),
          h(
            "dd",
            { id: "last-change" },
            time(p.last_status_changed_at),
            heldFor ? h("div", { class: "muted", id: "held-for" }, `held for ${heldFor}`) : null,
          ),
        ),
        p.archived_at ? h("div", {}, h("dt", {}, "Archived"), h("dd", { id: "archived-at" }, time(p.archived_at))) : null,
        h("div", {}, h("dt", {}, "Last activity"), h("dd", {}, time(p.last_activity_at))),
        h("div", {}, h("dt", {}, "Version"), h("dd", {}, String(p.version))),
        h("div", {}, h("dt", {}, "Procedure id"), h("dd", { class: "mono" }, p.procedure_id)),
      ),
      p.last_status_reason ? h("p", { class: "reason", id: "status-reason", title: p.last_status_reason }, h("strong", {}, "Reason: "), readableReason(p.last_status_reason)) : h("span"),
      p.open_stall_decision_id !== null
        ? h(
            "p",
            { class: "reason stall-notice", id: "open-stall", "data-decision-id": p.open_stall_decision_id },
            h("strong", {}, "Stalled: "),
            `${open?.reasoning ?? "the watcher recorded a Stall decision for this episode"}. `,
            p.status === "Held" ? (stallWarning(p, rp) ?? "") : "",
            p.on_stall === "hold" ? " The watcher holds a procedure like this one when it stalls." : "",
            " ",
            h("span", { class: "muted mono" }, p.open_stall_decision_id),
          )
        : h("span"),
      h(
        "div",
        { class: "claims", id: "hold-claims" },
        h("h2", {}, "Hold claims"),
        p.hold_claims.length === 0
          ? h("p", { class: "muted" }, "None.")
          : h(
              "ul",
              {},
              ...holders.map(({ claim, holder }) =>
                h(
                  "li",
                  { "data-cause": claim.cause, "data-claim-id": claim.claim_id, title: `claim ${claim.claim_id}` },
                  h("span", { class: `badge cause-${claim.cause}` }, claim.cause),
                  holder ? " held by " : null,
                  holder ? h("span", { class: "who-held" }, holder) : null,
                ),
              ),
            ),
      ),
    ]);
  }

  /**
   * Who holds a claim, by name as the event log says it: whoever ran the
   * newest hold that took it (a claim id stands for its cause, so a later
   * hold by the same cause is the current one). Null while the events are
   * not read, or not readable.
   */
  function holderOf(claimId: string): string | null {
    const held = events.findLast((e) => e.type === "ProcedureHeld" && e.payload.claim_id === claimId);
    return held ? names.of(held.principal_id) : null;
  }

  function renderSteps(p: Procedure, rp: ResumePoint | null) {
    if (!manifest) {
      patch(steps, String(p.step_count), () => [
        h("p", { class: "muted" }, p.step_count === null ? "Started without conduct: the logbook is free-form." : "Loading the pinned steps…"),
      ]);
      return;
    }
    const all = [...manifest.resolved_steps, ...manifest.resolved_closing_steps];
    const firstClosing = manifest.resolved_steps.length;
    const states = stepStates(all.length, logbook?.reports ?? new Map(), p);
    const boundary = p.status === "Held" && rp ? rp.suggested_boundary : null;
    patch(steps, JSON.stringify([states, boundary, p.status, [...(logbook?.reports ?? [])]]), () => {
      const items: Node[] = [];
      all.forEach((step, index) => {
        if (index === boundary) {
          items.push(
            h(
              "li",
              { class: "boundary", "aria-label": `Suggested resume boundary: ${stepLabel(index)}` },
              h("strong", {}, `Suggested resume boundary: ${stepLabel(index, step.kind)}`),
              h("span", { class: "boundary-why" }, ` · ${replayWords(index, all.length)}`),
            ),
          );
        }
        if (index === firstClosing) items.push(h("li", { class: "group" }, "Closing steps"));
        const state = states[index]!;
        const report = logbook?.reports.get(index);
        const description = describeStep(step);
        items.push(
          h(
            "li",
            { class: `step state-${state}`, "data-step-index": index, "data-state": state },
            h("span", { class: "step-index mono" }, stepLabel(index)),
            h("span", { class: "step-kind" }, step.kind),
            h("span", { class: "step-what mono" }, description),
            h("span", { class: `step-state chip chip-${state}` }, STATE_LABELS[state]),
            report?.result === "failed" && state === "failed" ? h("span", { class: "step-failure" }, `${report.error_class ?? ""}${report.message ? `: ${report.message}` : ""}`) : null,
            state === "ok" && report?.result === "ok" && logbook?.firstReported.get(index) !== report.recorded_at
              ? h("span", { class: "step-took muted" }, `took ${between(logbook?.firstReported.get(index), report.recorded_at)}`)
              : null,
            state === "awaiting_go_ahead"
              ? h(
                  "span",
                  { class: "step-why muted" },
                  report === undefined
                    ? "Not run yet, but part of the replay: an action or compute step may have a physical effect, so it waits for an operator."
                    : "Replayed: running it again may repeat a physical effect, so it waits for an operator.",
                )
              : null,
            state === "awaiting_go_ahead" ? goAheadButton(ctx, p, index, `${step.kind} ${description}`) : null,
          ),
        );
      });
      if (boundary !== null && pastLastStep(boundary, all.length)) items.push(h("li", { class: "boundary" }, `Suggested resume boundary · after the last step`));
      return [h("ol", { class: "steps", "aria-label": "Pinned steps" }, ...items)];
    });
  }

  function renderEvents() {
    const shown = events.slice(-EVENTS_SHOWN).reverse();
    patch(eventLog, `${events.length}:${shown.map((e) => names.of(e.principal_id)).join()}`, () => [
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...["Version", "Event", "When", "Who", "Details"].map((l) => h("th", { scope: "col" }, l)))),
        h(
          "tbody",
          {},
          ...shown.map((e) =>
            h(
              "tr",
              { "data-event-type": e.type },
              h("td", { "data-label": "Version" }, String(e.version)),
              h("td", { "data-label": "Event", title: e.type }, EVENT_LABELS[e.type] ?? e.type),
              h("td", { "data-label": "When" }, time(e.occurred_at)),
              h("td", { "data-label": "Who", class: "who-ran" }, names.of(e.principal_id)),
              h("td", { "data-label": "Details" }, eventDetail(e, events)),
            ),
          ),
        ),
      ),
    ]);
  }

  function renderLogbook() {
    if (!logbook) return;
    const recent = logbook.recent;
    patch(logbookView, `${recent[0]?.event_id ?? "empty"}:${recent.map((e) => names.of(e.principal_id)).join()}`, () =>
      recent.length === 0
        ? [h("p", { class: "muted" }, "No entries yet.")]
        : [
            h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ...["Recorded", "Kind", "Step", "Result", "Message", "Who", "Payload"].map((l) => h("th", { scope: "col" }, l)))),
              h(
                "tbody",
                {},
                ...recent.map((entry) => {
                  const { step_index, result, error_class, message } = entry.payload;
                  return h(
                    "tr",
                    {},
                    h("td", { "data-label": "Recorded" }, time(entry.recorded_at)),
                    h("td", { "data-label": "Kind" }, entry.step_kind),
                    h("td", { "data-label": "Step" }, typeof step_index === "number" ? stepLabel(step_index) : step_index === undefined ? "—" : String(step_index)),
                    h("td", { "data-label": "Result" }, result === undefined ? "—" : String(result)),
                    h("td", { "data-label": "Message" }, [error_class, message].filter((x) => x !== undefined).map(String).join(": ")),
                    h("td", { "data-label": "Who", class: "who-ran" }, names.of(entry.principal_id)),
                    h("td", { "data-label": "Payload" }, collapsed("Show the payload", entry.payload)),
                  );
                }),
              ),
            ),
          ],
    );
  }

  /** Asks for the names of whoever appears, then shows them. */
  function learnNames() {
    const ids = [...events.map((e) => e.principal_id), ...(logbook?.recent ?? []).map((e) => e.principal_id)];
    void names.learn(ids).then((learned) => {
      if (learned) render();
    }, () => undefined);
  }

  function render() {
    if (!shown) return;
    learnNames();
    const { p, rp, stall } = shown;
    renderSummary(p, stall, rp);
    // An archived procedure refuses every command: none is offered.
    patch(actions, JSON.stringify([p.status, p.version, rp?.suggested_boundary, archived]), () => (archived ? [] : actionButtons(ctx, p, rp)));
    renderSteps(p, rp);
    renderEvents();
    renderLogbook();
    renderLiveStatus();
  }

  /** How the page keeps up: from the archive, not at all (the record is final), live, or by polling. */
  function renderLiveStatus() {
    const p = shown?.p;
    if (archived) {
      liveStatus.replaceChildren(
        "Archived: this record is read once from the archive and does not change. Export it with ",
        h("code", {}, `GET /v1/procedures/${procedureId}/export`),
        ".",
      );
    } else if (p && isFinished(p.status)) {
      liveStatus.textContent = `${p.status}: this record is final and no longer changes.`;
    } else if (following) {
      liveStatus.textContent = "Following live.";
    } else if (stopFollowing && !streaming) {
      liveStatus.textContent = "Live stream unavailable: refreshing every few seconds.";
    }
  }

  /**
   * Shows a state with what was read beside it, unless the page already shows
   * a newer one: a read started before a streamed state may end after it, and
   * the stream of a finished procedure ends after its final state, so a stale
   * state shown last would stay for good. Newer is a higher version (every
   * status change is an event) or, at the same version, later activity.
   */
  function show(next: NonNullable<typeof shown>) {
    const now = shown?.p;
    const older = now !== undefined && (next.p.version < now.version || (next.p.version === now.version && (next.p.last_activity_at ?? "") < (now.last_activity_at ?? "")));
    if (!older) shown = next;
    render();
  }

  const resumePoint = (p: Procedure) =>
    p.step_count !== null && p.status === "Held" ? ctx.api<ResumePoint>("GET", `/v1/procedures/${procedureId}/resume-point`) : null;

  async function load() {
    const p = await ctx.api<Procedure>("GET", `/v1/procedures/${procedureId}`);
    if (p.archived_at !== null) readFromArchive();
    else if (!closed) stopFollowing ??= follow();
    const conducted = p.step_count !== null;
    const [, rp, stalls] = await Promise.all([
      logbook?.refresh(),
      resumePoint(p),
      ctx.can("ListDecisions") ? ctx.api<Page<Decision>>("GET", `/v1/decisions${query({ choice: "Stall", subject_id: procedureId, limit: 1 })}`) : null,
      conducted && !manifest ? ctx.api<Manifest>("GET", `/v1/procedures/${procedureId}/manifest`).then((m) => (manifest = m)) : null,
      ctx.can("ReadProcedureEvents") ? readEvents(p.version) : null,
    ]);
    show({ p, rp, stall: await openStall(p, stalls?.items[0]) });
  }

  /** The open Stall decision the state names, read by id when the newest one listed is not it. */
  async function openStall(p: Procedure, known: Decision | undefined): Promise<Decision | undefined> {
    const id = p.open_stall_decision_id;
    if (id === null || known?.id === id || !ctx.can("ReadDecision")) return known;
    return ctx.api<Decision>("GET", `/v1/decisions/${id}`).catch(() => known);
  }

  /** A state from the stream: what it cannot carry (the resume point, events missed before a fresh connection) is read. */
  async function onState(p: Procedure, first: boolean) {
    if (!first) {
      const [rp, stall] = await Promise.all([resumePoint(p), openStall(p, shown?.stall), ctx.can("ReadProcedureEvents") ? readEvents(p.version) : null]);
      following = true;
      show({ p, rp, stall });
      // The reads above may end after the page was left: the footer is then another page's.
      if (!closed) ctx.updated();
    } else {
      // A fresh stream carries what happens from now: the logbook read below fills in what came before.
      logbook?.liveFromNow();
      await load();
      following = true;
      renderLiveStatus();
    }
  }

  /** Follows the live stream; started by the first state read, which says whether the procedure is live. */
  const follow = () =>
    followProcedure(ctx.api, procedureId, {
      state: (p, first) => void onState(p, first).catch(() => undefined),
      event(event) {
        if (event.version !== (events.at(-1)?.version ?? 0) + 1) return;
        events.push(event);
        // A hold's event names who holds its claim: the summary shows it. Any other event adds a row.
        if (shown && event.type === "ProcedureHeld") render();
        else renderEvents();
        ctx.updated();
      },
      activity(items) {
        if (logbook?.ingest(items)) render();
        ctx.updated();
      },
      connected(open) {
        streaming = open;
        if (!open) following = false;
        renderLiveStatus();
      },
    });

  /** The state read says archived: stop following, stop polling, and say where the record comes from. */
  function readFromArchive() {
    archived = true;
    streaming = false;
    following = false;
    stopFollowing?.();
    renderLiveStatus();
  }

  return {
    element,
    intervalMs: 2000,
    // Read once when archived: a refresh on returning to the tab would read the archive file again for nothing new.
    refresh: () => (archived && shown ? Promise.resolve() : load()),
    polls: () => !streaming && !archived,
    close() {
      closed = true;
      stopFollowing?.();
    },
  };

  async function readEvents(version: number) {
    while ((events.at(-1)?.version ?? 0) < version) {
      const after = events.at(-1)?.version ?? 0;
      const page = await ctx.api<Page<ProcedureEvent>>("GET", `/v1/procedures/${procedureId}/events${query({ after, limit: 500 })}`);
      if (page.items.length === 0) break;
      // The stream, or another read, may have added some of these meanwhile: keep each version once.
      const last = events.at(-1)?.version ?? 0;
      events.push(...page.items.filter((e) => e.version > last));
    }
  }
}
