import { crmStage } from '../../cli/replay/checker-stages';
import { replayEvent, type ReplayEvent, type StageOutput } from '../../cli/replay/stage';
import type { BusinessEvent } from '../../shared/events/envelope';
import type { Finding } from '../../shared/findings';
import type { CrmLookup } from '../../shared/ports';
import { crmSynced } from '../support/events';
import { REPLAY_NOW } from '../support/replay';

/**
 * Replay runs the CRM check only where a CRM's credentials are configured (DESIGN §3). Without
 * any, a sync is not read at all: the main thread decodes an event a worker prepared only when a
 * rule reads it whole (prepare.ts), and a crm.synced that nothing checks is 11 % of a generated log.
 */
describe('replay crm-checker stage', () => {
  const sync = crmSynced({ id: 'sync-1', data: { lead_id: 'lead-1', crm: 'hubspot', crm_record_id: '901', email: 'a@example.com' } }) as BusinessEvent;
  /** The event as a worker hands it over, counting how often it is decoded. */
  const counted = () => {
    const reads = { n: 0 };
    const base = replayEvent(sync, Date.parse(sync.time), 1);
    const e: ReplayEvent = {
      ...base,
      get event() {
        reads.n++;
        return sync;
      },
    };
    return { e, reads };
  };
  const out = (findings: Finding[]): StageOutput => ({
    finding: (f) => findings.push(f),
    correction: () => undefined,
    defer: (pending) => void pending.then((apply) => apply(out(findings))),
  });

  it('does not decode a sync when no CRM is configured, and says the checks were skipped', () => {
    const stage = crmStage({ now: REPLAY_NOW, reviewFactor: 3, crms: {} });
    const { e, reads } = counted();
    const findings: Finding[] = [];
    void stage.onAccepted?.(e, out(findings));
    expect(reads.n).toBe(0);
    expect(findings).toEqual([]);
    expect(stage.checks?.()).toEqual({
      hubspot: 'skipped: no credentials (HUBSPOT_ACCESS_TOKEN, HUBSPOT_API_BASE)',
      salesforce: 'skipped: no credentials (SALESFORCE_INSTANCE_URL, SALESFORCE_ACCESS_TOKEN)',
    });
  });

  it('reads and checks a sync when its CRM is configured', async () => {
    const asked: string[] = [];
    const hubspot: CrmLookup = {
      crm: 'hubspot',
      record: async (id) => {
        asked.push(id);
        return { kind: 'not_found', reason: 'HubSpot answered 404' };
      },
      update: async () => undefined,
    };
    const stage = crmStage({ now: REPLAY_NOW, reviewFactor: 3, crms: { hubspot }, retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0, sleep: async () => undefined } });
    const { e, reads } = counted();
    const findings: Finding[] = [];
    void stage.onAccepted?.(e, out(findings));
    await new Promise<void>((resolve) => {
      const wait = () => (findings.length > 0 ? resolve() : setImmediate(wait));
      wait();
    });
    expect(reads.n).toBeGreaterThan(0);
    expect(asked).toEqual(['901']);
    expect(findings).toEqual([expect.objectContaining({ kind: 'crm_mismatch', action: 'review', event_id: 'sync-1', field: 'record' })]);
  });
});
