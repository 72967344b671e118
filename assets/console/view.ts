// What every screen of the console provides, and what it is given.
import type { CommandName } from "../../src/auth/grants";
import type { Api } from "./api";
import type { ConfirmSpec } from "./dialog";
import type { Me } from "./types";

export interface View {
  element: HTMLElement;
  /** How often the screen refreshes itself while visible. */
  intervalMs: number;
  refresh(): Promise<void>;
  /** False while the screen follows a live stream instead: the poll then skips it. */
  polls?(): boolean;
  /** Called when the screen is left: stops whatever it follows. */
  close?(): void;
}

export interface ViewContext {
  api: Api;
  me: Me;
  can(command: CommandName): boolean;
  /** Confirms, runs a command, shows its problem if refused, refreshes the screen; true when it was accepted. */
  act(spec: ConfirmSpec, run: (input: { reason?: string; boundary?: number }) => Promise<unknown>): Promise<boolean>;
  /** Says the screen was just brought up to date without a refresh: a live message showed what a read would have. */
  updated(): void;
}

/**
 * Replaces a section's content only when what it shows changed, keeping the
 * keyboard focus on the control with the same id: a refresh every few seconds
 * must not throw a keyboard user back to the top.
 */
export function patch(container: HTMLElement, signature: string, build: () => Node[]): void {
  if (container.dataset.signature === signature) return;
  const active = document.activeElement;
  const focusedId = active instanceof HTMLElement && container.contains(active) ? active.id : "";
  container.replaceChildren(...build());
  container.dataset.signature = signature;
  if (focusedId) document.getElementById(focusedId)?.focus();
}
