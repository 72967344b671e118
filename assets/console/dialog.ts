// Confirmation before any command: a modal <dialog> (focus stays inside,
// Escape cancels) that asks for the reason or the boundary the API needs.
import { h } from "./dom";

export interface ConfirmSpec {
  title: string;
  message: string;
  confirmLabel: string;
  danger?: boolean;
  reason?: { label: string };
  boundary?: { label: string; value: number; max: number };
}

export interface Confirmed {
  reason?: string;
  boundary?: number;
}

/** Resolves with what the operator entered, or null when cancelled. */
export function confirmAction(spec: ConfirmSpec): Promise<Confirmed | null> {
  const reason = spec.reason
    ? h("textarea", { id: "confirm-reason", name: "reason", required: true, maxlength: 500, rows: 3 })
    : null;
  const boundary = spec.boundary
    ? h("input", { id: "confirm-boundary", name: "boundary", type: "number", required: true, min: 0, max: spec.boundary.max, step: 1, value: spec.boundary.value, inputmode: "numeric" })
    : null;
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: "confirm-title" }, spec.title),
    h("p", {}, spec.message),
    reason && h("label", { for: "confirm-reason" }, spec.reason!.label),
    reason,
    boundary && h("label", { for: "confirm-boundary" }, spec.boundary!.label),
    boundary,
    h(
      "div",
      { class: "dialog-buttons" },
      h("button", { type: "button", value: "cancel", class: "secondary", "data-cancel": true }, "Cancel"),
      h("button", { type: "submit", value: "confirm", class: spec.danger ? "danger" : "primary" }, spec.confirmLabel),
    ),
  );
  const dialog = h("dialog", { "aria-labelledby": "confirm-title" }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    let result: Confirmed | null = null;
    form.querySelector("[data-cancel]")!.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (event) => {
      if (reason && !reason.value.trim()) {
        event.preventDefault();
        reason.setCustomValidity("A reason is required");
        reason.reportValidity();
        return;
      }
      result = { reason: reason?.value.trim(), boundary: boundary ? Number(boundary.value) : undefined };
    });
    reason?.addEventListener("input", () => reason.setCustomValidity(""));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    dialog.showModal();
    (reason ?? boundary ?? form.querySelector<HTMLButtonElement>("button[type=submit]"))?.focus();
  });
}
