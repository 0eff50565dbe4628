import type { TriageSnapshot } from './report';

/** Where dlq-triage's operator API listens in the local stack, and the token of this run. */
export interface TriageApi {
  readonly url: string;
  readonly token: string;
}

/** Reads dlq-triage's open records through its API, as an operator would (`dlq list --state open`). */
export async function readTriage(api: TriageApi, pageSize = 500): Promise<TriageSnapshot> {
  try {
    const res = await fetch(`${api.url}/v1/records?state=open&page_size=${pageSize}`, { headers: { authorization: `Bearer ${api.token}`, 'x-operator': 'local-stack' } });
    if (res.status !== 200) return { open: [], error: `GET /v1/records answered ${res.status}` };
    const body = (await res.json()) as { records: TriageSnapshot['open'] };
    return { open: body.records.map(({ id, class: c, subscription, reason, event }) => ({ id, class: c, subscription, reason, event })) };
  } catch (err) {
    return { open: [], error: (err as Error).message };
  }
}
