// A principal's scopes in SQL: a procedure is in scope when one of its target
// assets is one of the scope's, as the procedure_targets table records them.
import { sql, type SQL, type SQLWrapper } from "drizzle-orm";
import type { PrincipalScopes } from "../auth/grants";

/**
 * True for rows whose procedure id is in scope; undefined (no condition) for
 * an unscoped principal. Joined through the summary so that procedure_targets
 * is read by its whole key. The scope is one JSON parameter: D1 binds at most
 * 100 parameters.
 */
export function inScopeSql(procedureId: SQLWrapper, scopes: PrincipalScopes | null): SQL | undefined {
  if (scopes === null) return undefined;
  return sql`EXISTS (SELECT 1 FROM procedure_summary AS scoped_summary
    JOIN procedure_targets AS scoped_target
      ON scoped_target.registered_at = scoped_summary.registered_at AND scoped_target.procedure_id = scoped_summary.procedure_id
    WHERE scoped_summary.procedure_id = ${procedureId}
      AND scoped_target.asset_id IN (SELECT value FROM json_each(${JSON.stringify(scopes.target_asset_ids)})))`;
}
