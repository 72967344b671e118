// Starting work: register a procedure and conduct it with a step list built
// in an editor (the five step kinds plus scan and repeat; add, reorder,
// remove), or from a saved template, or start it without steps. Nothing is
// pinned unseen: every edit is sent to the service's dry run
// (POST /v1/conduct-preview), whose refusals are shown beside the fields
// they name, in plain words, and whose answer is the resolved list a start
// would pin. A field left empty and untouched is not scolded: its refusal
// shows once the operator has typed into it, or tries to start or save.
import { ApiProblem, query, type Problem } from "./api";
import { card, h, replace } from "./dom";
import { clearProblem, problemOf, showProblem } from "./notice";
import { describeStep, stepLabel } from "./steps";
import type { ConductPreview, Page, Procedure, Step, Template } from "./types";
import type { View, ViewContext } from "./view";

/** How long editing pauses before the draft is previewed. */
const EDIT_PAUSE_MS = 300;

export const EDITOR_KINDS = ["setpoint", "action", "check", "capture", "compute", "scan", "repeat"] as const;
export type EditorKind = (typeof EDITOR_KINDS)[number];

const KIND_LABELS: Record<EditorKind, string> = {
  setpoint: "Setpoint: move an address to a value",
  action: "Action: run a named instrument action",
  check: "Check: compare a reading with what is expected",
  capture: "Capture: record a reading under a name",
  compute: "Compute: run an analysis command",
  scan: "Scan: setpoints from start to stop in equal steps",
  repeat: "Repeat: the steps inside, several times",
};

type FieldType = "text" | "number" | "checkbox" | "json" | "words" | "list" | "criterion";

interface FieldSpec {
  key: string;
  label: string;
  type: FieldType;
  /** Where the service's validation names this field, below the step's own path. */
  path: string;
  optional?: boolean;
  initial?: string | boolean;
  hint?: string;
}

const FIELDS: Record<EditorKind, FieldSpec[]> = {
  setpoint: [
    { key: "address", label: "Address", type: "text", path: "address" },
    { key: "value", label: "Value", type: "number", path: "value" },
    { key: "verify", label: "Verify the readback", type: "checkbox", path: "verify", initial: true },
  ],
  action: [
    { key: "name", label: "Action name", type: "text", path: "name" },
    { key: "params", label: "Parameters (JSON object)", type: "json", path: "params", initial: "{}" },
  ],
  check: [
    { key: "address", label: "Address", type: "text", path: "address" },
    { key: "criterion", label: "Criterion", type: "criterion", path: "criterion.kind", initial: "within_tolerance" },
    { key: "expected", label: "Expected", type: "text", path: "criterion.expected", hint: "a number, true, false or text" },
    { key: "tolerance", label: "Tolerance (±)", type: "number", path: "criterion.tolerance" },
  ],
  capture: [
    { key: "address", label: "Address", type: "text", path: "address" },
    { key: "capture_name", label: "Capture name", type: "text", path: "capture_name" },
  ],
  compute: [
    { key: "command", label: "Command (words separated by spaces)", type: "words", path: "command" },
    { key: "input_uris", label: "Input URIs (comma-separated, may be empty)", type: "list", path: "input_uris", initial: "" },
    { key: "parameters", label: "Parameters (JSON object)", type: "json", path: "parameters", initial: "{}" },
    { key: "capture_name", label: "Capture name (optional)", type: "text", path: "capture_name", optional: true },
    { key: "output_uri", label: "Output URI (optional)", type: "text", path: "output_uri", optional: true },
  ],
  scan: [
    { key: "address", label: "Address", type: "text", path: "address" },
    { key: "start", label: "Start", type: "number", path: "start" },
    { key: "stop", label: "Stop", type: "number", path: "stop" },
    { key: "points", label: "Points", type: "number", path: "points" },
    { key: "capture_name", label: "Capture name (optional)", type: "text", path: "capture_name", optional: true },
  ],
  repeat: [{ key: "times", label: "Times", type: "number", path: "times", initial: "2" }],
};

/**
 * Every kind may carry a deadline: from the step's in_flight to its ok or
 * failed; a scan or repeat passes it to the steps it expands to.
 */
const DEADLINE: FieldSpec = {
  key: "deadline_seconds",
  label: "Deadline in seconds (optional)",
  type: "number",
  path: "deadline_seconds",
  optional: true,
  hint: "past it, the watcher records that the step is overdue",
};
for (const fields of Object.values(FIELDS)) fields.push(DEADLINE);

/** A step as the editor holds it: the raw text of each field, the fields the operator changed, and a repeat's own steps. */
export interface EditorStep {
  kind: EditorKind;
  values: Record<string, string | boolean>;
  touched: Set<string>;
  steps: EditorStep[];
}

export function newStep(kind: EditorKind): EditorStep {
  const values: Record<string, string | boolean> = {};
  for (const field of FIELDS[kind]) values[field.key] = field.initial ?? "";
  return { kind, values, touched: new Set(), steps: [] };
}

const EXPECTED_WORDS: Record<string, string> = {
  string: "Enter text.",
  number: "Enter a number.",
  int: "Enter a whole number.",
  boolean: "Choose yes or no.",
  object: "Enter a JSON object, such as {}.",
  array: "Enter a list.",
};

/**
 * A refusal of the service's validation in plain words for the field it is
 * shown beside ("Needs a value." for "Invalid input: expected string,
 * received undefined"); what it does not recognise it passes on as a sentence.
 */
export function plainFieldMessage(message: string): string {
  let m: RegExpExecArray | null;
  if (/received undefined$/.test(message) || /^Too small: expected (string|array) to have >=1 (characters|items)$/.test(message)) return "Needs a value.";
  if ((m = /^Invalid input: expected (\w+), received \w+$/.exec(message))) return EXPECTED_WORDS[m[1]!] ?? `Enter ${m[1]}.`;
  if ((m = /^Too small: expected number to be >(=?)(\S+)$/.exec(message))) return m[1] ? `At least ${m[2]}.` : `More than ${m[2]}.`;
  if ((m = /^Too big: expected number to be <(=?)(\S+)$/.exec(message))) return m[1] ? `At most ${m[2]}.` : `Less than ${m[2]}.`;
  if ((m = /^Too (small|big): expected (string|array) to have (>=|<=)(\d+) (characters|items)$/.exec(message))) return `${m[3] === ">=" ? "At least" : "At most"} ${m[4]} ${m[5]}.`;
  if ((m = /^Invalid option: expected one of (.+)$/.exec(message))) return `Choose one of ${m[1]!.split("|").join(", ")}.`;
  const text = message.replace(/^Invalid input: /, "").trim();
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? "" : "."}`;
}

/** A field the editor could not turn into JSON at all (the service never sees it). */
class LocalFieldError extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
  }
}

function numberOrText(text: string): number | string | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  const value = Number(trimmed);
  // Text that is not a number goes as text: the service's answer names the field.
  return Number.isFinite(value) ? value : trimmed;
}

function expectedValue(text: string): number | string | boolean | undefined {
  const trimmed = text.trim();
  if (trimmed === "true" || trimmed === "false") return trimmed === "true";
  return numberOrText(trimmed);
}

/** The wire form of one editor step, as POST /v1/procedures/{id}/conduct takes it. */
export function toRequestStep(step: EditorStep, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = { kind: step.kind };
  const v = step.values;
  for (const field of FIELDS[step.kind]) {
    const raw = v[field.key];
    if (field.type === "checkbox") {
      out[field.key] = raw === true;
      continue;
    }
    const text = typeof raw === "string" ? raw : "";
    if (field.optional && text.trim() === "") continue;
    switch (field.type) {
      case "text":
        if (field.key !== "expected" && text.trim() !== "") out[field.key] = text.trim();
        break;
      case "number": {
        const value = numberOrText(text);
        if (value !== undefined && field.key !== "tolerance") out[field.key] = value;
        break;
      }
      case "json":
        try {
          out[field.key] = JSON.parse(text.trim() || "{}");
        } catch {
          throw new LocalFieldError(`${path}.${field.path}`, "not JSON: write an object such as {} or {\"speed\": 2}");
        }
        break;
      case "words":
        out[field.key] = text.split(/\s+/).filter((w) => w !== "");
        break;
      case "list":
        out[field.key] = text.split(",").map((w) => w.trim()).filter((w) => w !== "");
        break;
      case "criterion":
        break;
    }
  }
  if (step.kind === "check") {
    const kind = v.criterion === "equals" ? "equals" : "within_tolerance";
    const criterion: Record<string, unknown> = { kind, expected: expectedValue(String(v.expected ?? "")) };
    if (kind === "within_tolerance") criterion.tolerance = numberOrText(String(v.tolerance ?? ""));
    out.criterion = criterion;
  }
  if (step.kind === "repeat") out.steps = step.steps.map((inner, i) => toRequestStep(inner, `${path}.steps.${i}`));
  return out;
}

/** An editor step from a requested step (a template's), keeping what the editor does not know as text. */
export function fromRequestStep(step: Record<string, unknown>): EditorStep {
  const kind = (EDITOR_KINDS as readonly string[]).includes(String(step.kind)) ? (step.kind as EditorKind) : "action";
  const editor = newStep(kind);
  for (const field of FIELDS[kind]) {
    const value = step[field.key];
    if (value === undefined) continue;
    if (field.type === "checkbox") editor.values[field.key] = value === true;
    else if (field.type === "json") editor.values[field.key] = JSON.stringify(value);
    else if (field.type === "words") editor.values[field.key] = Array.isArray(value) ? value.join(" ") : String(value);
    else if (field.type === "list") editor.values[field.key] = Array.isArray(value) ? value.join(", ") : String(value);
    else editor.values[field.key] = String(value);
  }
  if (kind === "check" && step.criterion && typeof step.criterion === "object") {
    const criterion = step.criterion as Record<string, unknown>;
    editor.values.criterion = criterion.kind === "equals" ? "equals" : "within_tolerance";
    editor.values.expected = criterion.expected === undefined ? "" : String(criterion.expected);
    editor.values.tolerance = criterion.tolerance === undefined ? "" : String(criterion.tolerance);
  }
  if (kind === "repeat" && Array.isArray(step.steps)) editor.steps = step.steps.map((s) => fromRequestStep(s as Record<string, unknown>));
  return editor;
}

function field(id: string, label: string, input: HTMLElement, hint?: string): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("p", { class: "muted field-hint" }, hint) : null);
}

export function startView(ctx: ViewContext, initialTemplate: string | null): View {
  const alert = h("div", { class: "alert-region", role: "alert", id: "start-problem" });
  const steps: EditorStep[] = [];
  const closing: EditorStep[] = [];
  let previewed: { body: string; preview: ConductPreview } | null = null;
  let previewTimer: ReturnType<typeof setTimeout> | undefined;
  let previewSeq = 0;
  /** The fields the last preview refused, by the service or before asking it; shown in full once the operator tries to start or save. */
  let refused: NonNullable<Problem["errors"]> = [];
  /** The service's refusal of the last preview as a whole, for the summary beside the steps. */
  let refusal: Problem | null = null;
  /** True once the operator tried to start or save: every refusal shows, empty fields too. */
  let revealAll = false;

  // ---- the procedure -------------------------------------------------------
  const nameInput = h("input", { id: "start-name", name: "name", required: true, maxlength: 200, autocomplete: "off", placeholder: "e.g. Bake-out oven 1" });
  const kindInput = h("input", { id: "start-kind", name: "kind", required: true, maxlength: 50, autocomplete: "off", placeholder: "e.g. thermal" });
  const assetsInput = h("input", { id: "start-assets", name: "target_asset_ids", autocomplete: "off", placeholder: "e.g. oven-1, chiller-2" });
  const onFailure = h(
    "select",
    { id: "start-on-failure", name: "on_failure" },
    h("option", { value: "hold" }, "Hold the procedure, so an operator decides"),
    h("option", { value: "abort" }, "Abort the procedure"),
  );
  const onStall = h(
    "select",
    { id: "start-on-stall", name: "on_stall" },
    h("option", { value: "flag" }, "Flag it: the watcher records a Stall decision"),
    h("option", { value: "hold" }, "Hold it as well, so an operator decides"),
  );
  const staleAfter = h("input", { id: "start-stale-after", name: "stale_after_seconds", type: "number", min: 60, max: 604800, step: 1, placeholder: "the service's default" });
  const templateSelect = h("select", { id: "start-template", name: "template" }, h("option", { value: "" }, "No template: build the steps below"));
  const procedureCard = card(
    "Procedure",
    "start-procedure-title",
    field("start-name", "Name", nameInput),
    field("start-kind", "Kind", kindInput),
    field("start-assets", "Target assets (comma-separated)", assetsInput),
    ctx.can("ListTemplates") ? field("start-template", "Start from a template", templateSelect, "Fills in the kind and the steps; you can still change them.") : h("span"),
  );

  // ---- the step editor -----------------------------------------------------
  const stepsRegion = h("div", { id: "step-editor" });
  const closingRegion = h("div", { id: "closing-editor" });
  const previewRegion = h("div", { id: "start-preview", "aria-live": "polite" });

  function moveButtons(list: EditorStep[], index: number, label: string): HTMLElement {
    const move = (to: number) => () => {
      const [step] = list.splice(index, 1);
      list.splice(to, 0, step!);
      edited();
      renderEditors();
    };
    return h(
      "div",
      { class: "actions step-buttons", role: "group", "aria-label": `Arrange ${label}` },
      h("button", { type: "button", class: "small secondary", "data-action": "up", disabled: index === 0, "aria-label": `Move ${label} up`, onclick: move(index - 1) }, "↑ Up"),
      h("button", { type: "button", class: "small secondary", "data-action": "down", disabled: index === list.length - 1, "aria-label": `Move ${label} down`, onclick: move(index + 1) }, "↓ Down"),
      h(
        "button",
        {
          type: "button",
          class: "small danger-outline",
          "data-action": "remove",
          "aria-label": `Remove ${label}`,
          onclick: () => {
            list.splice(index, 1);
            edited();
            renderEditors();
          },
        },
        "Remove",
      ),
    );
  }

  function fieldInput(step: EditorStep, spec: FieldSpec, id: string, path: string): HTMLElement {
    const value = step.values[spec.key];
    const common = { id, name: spec.key, "data-path": path, "aria-describedby": `${id}-error`, ...(step.touched.has(spec.key) ? { "data-touched": "true" } : {}) };
    const touch = (input: HTMLElement) => {
      step.touched.add(spec.key);
      input.dataset.touched = "true";
    };
    let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
    if (spec.type === "checkbox") {
      input = h("input", { ...common, type: "checkbox", checked: value === true });
      input.addEventListener("change", () => {
        step.values[spec.key] = (input as HTMLInputElement).checked;
        touch(input);
        edited();
      });
      return h("div", { class: "field check-field" }, h("label", { for: id }, input, spec.label), h("p", { class: "field-error", id: `${id}-error` }));
    }
    if (spec.type === "criterion") {
      input = h(
        "select",
        common,
        h("option", { value: "within_tolerance", selected: value === "within_tolerance" }, "within a tolerance"),
        h("option", { value: "equals", selected: value === "equals" }, "equals"),
      );
      input.addEventListener("change", () => {
        step.values[spec.key] = input.value;
        touch(input);
        edited();
        renderEditors();
      });
    } else if (spec.type === "json") {
      input = h("textarea", { ...common, rows: 2, spellcheck: "false" }, String(value ?? ""));
    } else {
      input = h("input", { ...common, value: String(value ?? ""), autocomplete: "off", ...(spec.type === "number" ? { inputmode: "decimal" } : {}) });
    }
    if (spec.type !== "criterion") {
      input.addEventListener("input", () => {
        step.values[spec.key] = input.value;
        touch(input);
        edited();
      });
    }
    return h("div", { class: "field" }, h("label", { for: id }, spec.label), input, spec.hint ? h("p", { class: "muted field-hint" }, spec.hint) : null, h("p", { class: "field-error", id: `${id}-error` }));
  }

  function stepEditor(list: EditorStep[], index: number, path: string, noun: string, number: string): HTMLElement {
    const step = list[index]!;
    const label = `${noun} #${number}`;
    const id = path.replaceAll(".", "-");
    const specs = FIELDS[step.kind].filter((spec) => !(step.kind === "check" && spec.key === "tolerance" && step.values.criterion === "equals"));
    return h(
      "li",
      { class: "editor-step", "data-path": path, "data-kind": step.kind },
      h(
        "div",
        { class: "editor-step-head" },
        h("strong", { class: "editor-step-name" }, `${noun === "closing step" ? "closing " : ""}#${number} ${step.kind}`),
        h("span", { class: "muted" }, KIND_LABELS[step.kind].split(": ")[1]),
        moveButtons(list, index, label),
      ),
      h("p", { class: "field-error", id: `${id}-error`, "data-path": path }),
      h("div", { class: "editor-fields" }, ...specs.map((spec) => fieldInput(step, spec, `${id}-${spec.key}`, `${path}.${spec.path}`))),
      step.kind === "repeat" ? stepList(step.steps, `${path}.steps`, `${number}.`, noun) : null,
    );
  }

  function addControls(list: EditorStep[], path: string, what: string): HTMLElement {
    const id = `${path.replaceAll(".", "-")}-add`;
    const kind = h("select", { id: `${id}-kind`, "aria-label": `Kind of step to add to ${what}` }, ...EDITOR_KINDS.map((k) => h("option", { value: k }, KIND_LABELS[k])));
    return h(
      "div",
      { class: "add-step" },
      kind,
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          id,
          onclick: () => {
            list.push(newStep(kind.value as EditorKind));
            edited();
            renderEditors();
            document.getElementById(`${path.replaceAll(".", "-")}-${list.length - 1}-${FIELDS[list[list.length - 1]!.kind][0]!.key}`)?.focus();
          },
        },
        `Add to ${what}`,
      ),
    );
  }

  /**
   * `noun` and `prefix` name the steps by their place in the request, from 0
   * as the API counts (its refusals name `steps.2.steps.0`): "step #2.0",
   * "closing step #1". With no scan or repeat, a step's number here is its
   * index once pinned, as the preview and the procedure's page show it.
   */
  function stepList(list: EditorStep[], path: string, prefix: string, noun: string): HTMLElement {
    return h(
      "div",
      { class: "editor-list" },
      h("p", { class: "field-error", id: `${path.replaceAll(".", "-")}-error`, "data-path": path }),
      list.length === 0 ? h("p", { class: "muted" }, "No steps yet.") : h("ol", { class: "editor-steps" }, ...list.map((_, i) => stepEditor(list, i, `${path}.${i}`, noun, `${prefix}${i}`))),
      addControls(list, path, path === "closing_steps" ? "the closing steps" : path === "steps" ? "the steps" : `repeat ${noun} #${prefix.slice(0, -1)}`),
    );
  }

  function renderEditors() {
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.id : "";
    replace(stepsRegion, stepList(steps, "steps", "", "step"));
    replace(closingRegion, stepList(closing, "closing_steps", "", "closing step"));
    if (focused) document.getElementById(focused)?.focus();
  }

  // ---- preview: the service's own answer ----------------------------------
  function conductBody(): Record<string, unknown> {
    return {
      steps: steps.map((s, i) => toRequestStep(s, `steps.${i}`)),
      closing_steps: closing.map((s, i) => toRequestStep(s, `closing_steps.${i}`)),
      on_failure: onFailure.value,
      on_stall: onStall.value,
      ...(staleAfter.value.trim() === "" ? {} : { stale_after_seconds: numberOrText(staleAfter.value) }),
    };
  }

  function clearFieldErrors() {
    for (const slot of element.querySelectorAll<HTMLElement>(".field-error")) {
      slot.textContent = "";
      slot.removeAttribute("title");
    }
    for (const input of element.querySelectorAll<HTMLElement>("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  /** Whether the operator has given this field something: typed into it, or it holds a value (a template's, a default). */
  function answered(input: HTMLElement): boolean {
    return input.dataset.touched === "true" || ("value" in input && String(input.value).trim() !== "");
  }

  /**
   * Shows each listed error, in plain words, beside the field it names, or
   * the nearest step or list that holds it; an empty field the operator has
   * not touched stays quiet until `revealAll`, and so does a step's or list's
   * own error while nothing at all was touched.
   */
  function showFieldErrors(errors: Array<{ path: string; message: string }>): { placed: number; held: number } {
    let placed = 0;
    let held = 0;
    const anyTouched = element.querySelector("[data-touched]") !== null;
    for (const error of errors) {
      let path = error.path;
      for (;;) {
        const input = element.querySelector<HTMLElement>(`[data-path="${CSS.escape(path)}"]:not(.field-error):not(li)`);
        const slot = input ? document.getElementById(`${input.id}-error`) : element.querySelector<HTMLElement>(`.field-error[data-path="${CSS.escape(path)}"]`);
        if (slot) {
          if (!revealAll && (input ? !answered(input) : !anyTouched)) {
            held += 1;
            break;
          }
          const words = plainFieldMessage(error.message);
          slot.textContent = slot.textContent ? `${slot.textContent} ${words}` : words;
          // The service's own words stay at hand, on hover.
          slot.title = slot.title ? `${slot.title}; ${error.message}` : error.message;
          input?.setAttribute("aria-invalid", "true");
          placed += 1;
          break;
        }
        const cut = path.lastIndexOf(".");
        if (cut < 0) break;
        path = path.slice(0, cut);
      }
    }
    return { placed, held };
  }

  /**
   * The dry run's refusal beside the steps. While every refusal is held back
   * (fields not touched yet, nothing asked for) it is as quiet as the fields:
   * what to do first, not a red summary of what nobody has typed yet.
   */
  function renderRefusal(problem: Problem, shown: { placed: number; held: number }) {
    if (!revealAll && shown.placed === 0 && shown.held > 0) {
      replace(previewRegion, h("p", { class: "muted", id: "preview-incomplete" }, "Fill in the steps' fields to see the list a start would pin."));
      return;
    }
    replace(
      previewRegion,
      h(
        "div",
        { class: "preview-refused", id: "preview-refused", "data-error-class": problem.error_class ?? "" },
        h("p", {}, h("strong", {}, "The service would refuse these steps. "), shown.placed > 0 ? "See the marked fields." : problem.detail),
      ),
    );
  }

  /** Start or save was asked for with steps the service would refuse: show every refusal and go to the first. */
  function revealRefusals() {
    revealAll = true;
    clearFieldErrors();
    const shown = showFieldErrors(refused);
    if (refusal) renderRefusal(refusal, shown);
    element.querySelector<HTMLElement>("[aria-invalid=true]")?.focus();
  }

  function renderPreview(preview: ConductPreview) {
    // Numbered as they will be pinned: the index the procedure's page and the API give each step.
    const list = (items: Step[], start: number) =>
      h(
        "ol",
        { class: "preview-steps" },
        ...items.map((s, i) => h("li", { "data-kind": s.kind, "data-step-index": start + i }, h("span", { class: "step-index mono" }, stepLabel(start + i)), " ", h("span", { class: "chip" }, s.kind), " ", describeStep(s))),
      );
    replace(
      previewRegion,
      h("p", { id: "preview-count" }, `${preview.step_count} step${preview.step_count === 1 ? "" : "s"} will be pinned, in this order. A resume replays this list as it is.`),
      list(preview.resolved_steps, 0),
      preview.resolved_closing_steps.length ? h("p", { class: "muted" }, "Then the closing steps:") : null,
      preview.resolved_closing_steps.length ? list(preview.resolved_closing_steps, preview.resolved_steps.length) : null,
    );
  }

  async function runPreview() {
    const seq = ++previewSeq;
    clearFieldErrors();
    startButton.disabled = true;
    previewed = null;
    refused = [];
    refusal = null;
    if (steps.length === 0) {
      replace(previewRegion, h("p", { class: "muted" }, "Add a step to see the list a start would pin, or start without steps."));
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = conductBody();
    } catch (error) {
      if (!(error instanceof LocalFieldError)) throw error;
      refused = [{ path: error.path, message: error.message }];
      showFieldErrors(refused);
      replace(previewRegion, h("p", { class: "muted", id: "preview-blocked" }, "Fix the marked field to see the resolved list."));
      // Start stays offered: asking for it shows what to fix.
      startButton.disabled = false;
      return;
    }
    replace(previewRegion, h("p", { class: "muted" }, "Resolving…"));
    try {
      const preview = await ctx.api<ConductPreview>("POST", "/v1/conduct-preview", body);
      if (seq !== previewSeq) return;
      previewed = { body: JSON.stringify(body), preview };
      renderPreview(preview);
      startButton.disabled = false;
    } catch (error) {
      if (seq !== previewSeq) return;
      const problem = problemOf(error);
      refused = problem.errors ?? [];
      refusal = problem;
      renderRefusal(problem, showFieldErrors(refused));
      // Start stays offered: asking for it shows every refusal, empty fields too.
      startButton.disabled = false;
    }
  }

  function edited() {
    clearTimeout(previewTimer);
    startButton.disabled = true;
    previewTimer = setTimeout(() => void runPreview(), EDIT_PAUSE_MS);
  }
  onFailure.addEventListener("change", edited);
  onStall.addEventListener("change", edited);
  staleAfter.addEventListener("input", edited);

  // ---- starting ------------------------------------------------------------
  function registration(): { name: string; kind: string; target_asset_ids: string[] } | null {
    for (const input of [nameInput, kindInput]) {
      input.setCustomValidity(input.value.trim() ? "" : "Required");
      if (!input.reportValidity()) return null;
    }
    return {
      name: nameInput.value.trim(),
      kind: kindInput.value.trim(),
      target_asset_ids: assetsInput.value.split(",").map((a) => a.trim()).filter((a) => a !== ""),
    };
  }
  for (const input of [nameInput, kindInput]) input.addEventListener("input", () => input.setCustomValidity(""));

  async function start(withSteps: boolean) {
    const body = registration();
    if (!body) return;
    clearProblem(alert);
    const conduct = withSteps ? previewed : null;
    if (withSteps && !conduct) return revealRefusals();
    startButton.disabled = true;
    freeButton.disabled = true;
    let registered: Procedure | undefined;
    try {
      registered = await ctx.api<Procedure>("POST", "/v1/procedures", body);
      const path = `/v1/procedures/${registered.procedure_id}`;
      if (conduct) {
        const result = await ctx.api<{ succeeded: boolean; failure: { message: string } | null }>("POST", `${path}/conduct`, JSON.parse(conduct.body));
        if (!result.succeeded) throw new ApiProblem({ title: "Not started", status: 200, detail: result.failure?.message ?? "the conduct did not start" });
      } else {
        await ctx.api("POST", `${path}/start`);
      }
      location.hash = `#/procedures/${registered.procedure_id}`;
    } catch (error) {
      showProblem(alert, error);
      if (registered) {
        // The procedure exists (Defined): say so rather than leave it unmentioned.
        alert.append(h("p", {}, "The procedure was registered but not started: ", h("a", { href: `#/procedures/${registered.procedure_id}` }, "open it"), "."));
      }
      startButton.disabled = previewed === null;
      freeButton.disabled = false;
    }
  }

  const startButton = h("button", { type: "button", class: "primary", id: "start-conducted", disabled: true, onclick: () => void start(true) }, "Start with these steps");
  const freeButton = h(
    "button",
    { type: "button", class: "secondary", id: "start-free", onclick: () => void start(false), title: "Its logbook takes free-form entries; complete it from its page" },
    "Start without steps",
  );

  // ---- templates -----------------------------------------------------------
  let templates: Template[] = [];
  const templateName = h("input", { id: "template-name", name: "template_name", maxlength: 100, autocomplete: "off", placeholder: "e.g. Bake-out 120C" });
  const templateNote = h("p", { class: "muted", role: "status", id: "template-status" });
  const saveTemplateForm = ctx.can("SaveTemplate")
    ? card(
        "Save as a template",
        "save-template-title",
        h("p", { class: "muted" }, "Saves the kind and these steps under a name, so anyone in the lab can start from them."),
        field("template-name", "Template name", templateName),
        h("p", { class: "field-error", id: "template-name-error" }),
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            id: "save-template",
            onclick: async () => {
              const name = templateName.value.trim();
              const slot = document.getElementById("template-name-error")!;
              slot.textContent = "";
              templateNote.textContent = "";
              if (!name) {
                slot.textContent = "Give the template a name.";
                templateName.focus();
                return;
              }
              let conduct: Record<string, unknown>;
              // Saving is asking: every refusal shows from here on.
              revealAll = true;
              try {
                conduct = conductBody();
              } catch (error) {
                if (error instanceof LocalFieldError) return void showFieldErrors([{ path: error.path, message: error.message }]);
                throw error;
              }
              try {
                await ctx.api("PUT", `/v1/templates/${encodeURIComponent(name)}`, { kind: kindInput.value.trim() || null, conduct });
                templateNote.textContent = `Saved as "${name}".`;
                await loadTemplates(name);
              } catch (error) {
                const problem = problemOf(error);
                const errors = (problem.errors ?? []).map((e) => ({ ...e, path: e.path.replace(/^conduct\./, "") }));
                clearFieldErrors();
                if (!showFieldErrors(errors).placed) slot.textContent = `${problem.title}: ${problem.detail}`;
                if (errors.some((e) => e.path === "name")) slot.textContent = plainFieldMessage(errors.find((e) => e.path === "name")!.message);
              }
            },
          },
          "Save template",
        ),
        templateNote,
      )
    : null;

  function applyTemplate(template: Template) {
    if (template.kind) kindInput.value = template.kind;
    steps.splice(0, steps.length, ...template.conduct.steps.map(fromRequestStep));
    closing.splice(0, closing.length, ...(template.conduct.closing_steps ?? []).map(fromRequestStep));
    onFailure.value = template.conduct.on_failure ?? "abort";
    onStall.value = template.conduct.on_stall ?? "flag";
    staleAfter.value = template.conduct.stale_after_seconds == null ? "" : String(template.conduct.stale_after_seconds);
    templateName.value = template.name;
    renderEditors();
    edited();
  }

  async function loadTemplates(selected: string | null) {
    if (!ctx.can("ListTemplates")) return;
    const page = await ctx.api<Page<Template>>("GET", `/v1/templates${query({ limit: 100 })}`);
    templates = page.items;
    replace(
      templateSelect,
      h("option", { value: "" }, "No template: build the steps below"),
      ...templates.map((t) => h("option", { value: t.name, selected: t.name === selected }, t.description ? `${t.name} (${t.description})` : t.name)),
    );
  }
  templateSelect.addEventListener("change", () => {
    const template = templates.find((t) => t.name === templateSelect.value);
    if (template) applyTemplate(template);
  });

  const element = h(
    "section",
    { "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: -1 }, "Start a procedure"),
    h("p", { class: "muted" }, "Register a procedure and give it its steps: the service resolves them (scans and repeats expanded, pseudoaxes applied) and pins that list before it starts. Or start it without steps, for work logged by hand."),
    alert,
    procedureCard,
    card(
      "Steps",
      "start-steps-title",
      stepsRegion,
      h("h3", {}, "Closing steps"),
      h("p", { class: "muted" }, "Run after the steps, to leave the instrument safe (also after a failure that holds)."),
      closingRegion,
      field("start-on-failure", "When a step fails", onFailure),
      field("start-on-stall", "When it stops progressing", onStall),
      field("start-stale-after", "Stalled after, seconds without progress (optional, 60-604800)", staleAfter),
    ),
    card("What will be pinned", "start-preview-title", previewRegion, h("div", { class: "actions start-buttons" }, startButton, freeButton)),
    saveTemplateForm,
  );

  renderEditors();
  void runPreview();
  let loaded = false;
  return {
    element,
    intervalMs: 60_000,
    async refresh() {
      // Nothing here changes by itself: the templates are read once.
      if (loaded) return;
      loaded = true;
      await loadTemplates(initialTemplate);
      const wanted = initialTemplate;
      const template = templates.find((t) => t.name === wanted);
      if (template && steps.length === 0) {
        templateSelect.value = template.name;
        applyTemplate(template);
      }
    },
    close() {
      clearTimeout(previewTimer);
    },
  };
}
