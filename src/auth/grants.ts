// Who may run what: each route names its command, and a principal's roles
// grant commands. Pure, so the watcher is authorized exactly like a caller.

/** The roles a principal created over the API may hold. */
export const API_ROLES = ["admin", "operator", "gateway", "reader"] as const;
/** Plus the watcher's own: the procedure reads its tick uses, nothing more. */
export const ROLES = [...API_ROLES, "watcher"] as const;
export type Role = (typeof ROLES)[number];

export const READ_COMMANDS = [
  "ListProcedures",
  "ReadProcedure",
  "ReadProcedureEvents",
  "ReadProcedureManifest",
  "ReadProcedureResumePoint",
  "ReadProcedureActivities",
  "ListDecisions",
  "ReadDecision",
  "ReadPseudoaxis",
  "ReadWatcher",
  "ListTemplates",
  "ReadTemplate",
  "ReadPrincipalNames",
] as const;

export const OPERATOR_COMMANDS = [
  "RegisterProcedure",
  "StartProcedure",
  "ConductProcedure",
  "HoldProcedure",
  "ResumeProcedure",
  "CompleteProcedure",
  "AbortProcedure",
  "TruncateProcedure",
  "ConductProcedureFrom",
  "AuthorizeReplayStep",
  "DefinePseudoaxis",
  "PreviewConduct",
  "SaveTemplate",
  "DeleteTemplate",
  "CreateSubscription",
  "ListSubscriptions",
  "ReadSubscription",
  "DeleteSubscription",
  "TestSubscription",
  "ListSubscriptionDeliveries",
] as const;

export const GATEWAY_COMMANDS = [
  "AppendProcedureActivities",
  "ReadProcedure",
  "ReadProcedureManifest",
  "ReadProcedureResumePoint",
] as const;

export const WATCHER_COMMANDS = ["ListProcedures", "ReadProcedure"] as const;
/** What the watcher's act rung needs besides: a hold with cause `stall`. Without it the watcher flags but does not act. */
export const WATCHER_ACT_COMMANDS = ["HoldProcedure"] as const;

export const ADMIN_COMMANDS = [
  "ReadActor",
  "DeactivateActor",
  "ActivateActor",
  "CreatePrincipal",
  "ListPrincipals",
  "ReadPrincipal",
  "RevokePrincipal",
  "RotatePrincipal",
  "ReadAuditLog",
  "ListDeliveries",
  "RedeliverDelivery",
  "ReadRefusals",
] as const;

export type CommandName =
  | (typeof READ_COMMANDS)[number]
  | (typeof OPERATOR_COMMANDS)[number]
  | (typeof GATEWAY_COMMANDS)[number]
  | (typeof ADMIN_COMMANDS)[number];

const GRANTS: Record<Role, ReadonlySet<CommandName>> = {
  admin: new Set([...READ_COMMANDS, ...OPERATOR_COMMANDS, ...GATEWAY_COMMANDS, ...ADMIN_COMMANDS]),
  operator: new Set([...READ_COMMANDS, ...OPERATOR_COMMANDS]),
  gateway: new Set(GATEWAY_COMMANDS),
  reader: new Set(READ_COMMANDS),
  watcher: new Set([...WATCHER_COMMANDS, ...WATCHER_ACT_COMMANDS]),
};

/**
 * What a stream carries: the procedure's state, its events and its logbook. A
 * principal opens one only when it may read all three by the other routes, so
 * a gateway (no /events, no /activities) cannot read them through the stream.
 */
export const STREAM_COMMANDS = ["ReadProcedure", "ReadProcedureEvents", "ReadProcedureActivities"] as const satisfies readonly CommandName[];

/** The assets a principal may act on: a procedure is in scope when its targets meet these. */
export interface PrincipalScopes {
  target_asset_ids: string[];
}

export interface Principal {
  principal_id: string;
  name: string;
  roles: Role[];
  /** Null: every procedure. */
  scopes: PrincipalScopes | null;
  /** Null: the token does not expire. */
  expires_at: string | null;
}

/** True when a procedure with these targets is within the scope (no scope: every procedure). */
export function inScope(scopes: PrincipalScopes | null, targetAssetIds: readonly string[]): boolean {
  if (scopes === null) return true;
  return targetAssetIds.some((asset) => scopes.target_asset_ids.includes(asset));
}

/**
 * Commands whose effect reaches every scope: a pseudoaxis definition is read by
 * every later conduct, whatever its targets. Only an unscoped principal runs them.
 */
export const UNSCOPED_COMMANDS: ReadonlySet<CommandName> = new Set<CommandName>(["DefinePseudoaxis"]);

/** True when one of the principal's roles grants the command (and, for a command reaching every scope, the principal is unscoped). */
export function isAuthorized(principal: Pick<Principal, "roles" | "scopes">, command: CommandName): boolean {
  if (principal.scopes !== null && UNSCOPED_COMMANDS.has(command)) return false;
  return principal.roles.some((role) => GRANTS[role]?.has(command) ?? false);
}

/** True when a procedure with these targets may be registered: a scoped principal needs every target within its scopes (and at least one). */
export function mayRegister(scopes: PrincipalScopes | null, targetAssetIds: readonly string[]): boolean {
  if (scopes === null) return true;
  return targetAssetIds.length > 0 && targetAssetIds.every((asset) => scopes.target_asset_ids.includes(asset));
}
