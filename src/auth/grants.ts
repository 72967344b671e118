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

export const ADMIN_COMMANDS = ["ReadActor", "DeactivateActor", "ActivateActor", "CreatePrincipal"] as const;

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
  watcher: new Set(WATCHER_COMMANDS),
};

export interface Principal {
  principal_id: string;
  name: string;
  roles: Role[];
}

/** True when one of the principal's roles grants the command. */
export function isAuthorized(principal: Principal, command: CommandName): boolean {
  return principal.roles.some((role) => GRANTS[role]?.has(command) ?? false);
}
