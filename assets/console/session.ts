// The signed-in session: the token lives in sessionStorage only (gone when the
// tab closes), and what the caller may do comes from its roles via the
// service's own grant table, so the page hides exactly what would be refused.
import { isAuthorized, type CommandName, type Role } from "../../src/auth/grants";
import { apiClient, type Api } from "./api";
import type { Me } from "./types";

const TOKEN_KEY = "procedure-edge.console.token";

export interface Session {
  api: Api;
  me: Me;
  can(command: CommandName): boolean;
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Asks the service who the token belongs to; keeps the token only when it is accepted. */
export async function signIn(token: string): Promise<Session> {
  const api = apiClient(token);
  const me = await api<Me>("GET", "/v1/me");
  sessionStorage.setItem(TOKEN_KEY, token);
  const principal = { principal_id: me.principal_id, name: me.name, roles: me.roles as Role[], scopes: me.scopes ?? null };
  return { api, me, can: (command) => isAuthorized(principal, command) };
}
