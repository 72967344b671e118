// Who ran a command: principal ids as the event log and the logbook carry
// them, shown by name. Names are asked for in one request per batch of ids
// not yet known (GET /v1/principal-names) and kept for the page's life.
import { query, type Api } from "./api";
import { shortId } from "./dom";

export class PrincipalNames {
  private readonly known = new Map<string, string>();
  private readonly asked = new Set<string>();

  constructor(private readonly api: Api, private readonly allowed: boolean) {}

  /** The name, or the id's tail until (or unless) the name is known. */
  of(principalId: string): string {
    return this.known.get(principalId) ?? `…${shortId(principalId)}`;
  }

  /** Reads the names of the ids not asked for yet; true when any became known. */
  async learn(ids: Iterable<string>): Promise<boolean> {
    if (!this.allowed) return false;
    const fresh = [...new Set(ids)].filter((id) => !this.asked.has(id)).slice(0, 100);
    if (fresh.length === 0) return false;
    for (const id of fresh) this.asked.add(id);
    const answer = await this.api<{ items: Array<{ principal_id: string; name: string }> }>("GET", `/v1/principal-names${query({ ids: fresh.join(",") })}`);
    for (const item of answer.items) this.known.set(item.principal_id, item.name);
    return answer.items.length > 0;
  }
}
