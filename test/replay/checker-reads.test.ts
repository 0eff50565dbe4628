import { callDurationStage, crmStage } from '../../cli/replay/checker-stages';
import { replayEvent, type ReplayEvent, type StageOutput } from '../../cli/replay/stage';
import type { BusinessEvent } from '../../shared/events/envelope';
import type { Finding } from '../../shared/findings';
import type { CrmLookup } from '../../shared/ports';
import { callCompleted, crmSynced } from '../support/events';
import { REPLAY_NOW } from '../support/replay';

/**
 * A rule reads an event whole only when it has something to check in it: the main thread decodes
 * an event a worker prepared on first read (prepare.ts). Replay runs the CRM check only where a CRM's credentials are configured (DESIGN §3). Without
 * any, a sync is not read at all: the main thread decodes an event a worker prepared only when a
 * rule reads it whole (prepare.ts), and a crm.synced that nothing checks is 11 % of a generated log.
 */
/** The event as a worker hands it over, counting how often it is decoded. */
function counted(event: BusinessEvent) {
  const reads = { n: 0 };
  const base = replayEvent(event, Date.parse(event.time), 1);
  const e: ReplayEvent = {
    ...base,
    get event() {
      reads.n++;
      return event;
    },
  };
  return { e, reads };
}

function out(findings: Finding[]): StageOutput {
  return {
    finding: (f) => findings.push(f),
    correction: () => undefined,
    defer: (pending) => void pending.then((apply) => apply(out(findings))),
  };
}

describe('replay call-duration-checker stage without Twilio', () => {
  const call = (id: string, seconds: number) => callCompleted({ id, data: { duration_seconds: seconds } }) as BusinessEvent;

  it('does not decode a call it finds nothing to say about', () => {
    const stage = callDurationStage({ now: REPLAY_NOW, reviewFactor: 3 });
    const { e, reads } = counted(call('c42', 42));
    const findings: Finding[] = [];
    void stage.onAccepted?.(e, out(findings));
    expect(reads.n).toBe(0);
    expect(findings).toEqual([]);
  });

  it('decodes and reports a completed call of 0 s', () => {
    const stage = callDurationStage({ now: REPLAY_NOW, reviewFactor: 3 });
    const { e, reads } = counted(call('c0', 0));
    const findings: Finding[] = [];
    void stage.onAccepted?.(e, out(findings));
    expect(reads.n).toBeGreaterThan(0);
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'call_duration_mismatch', action: 'review', event_id: 'c0', actual: 0, reason: 'a completed call of 0 s (not checked with Twilio)' }),
    ]);
  });
});

describe('replay crm-checker stage', () => {
  const sync = crmSynced({ id: 'sync-1', data: { lead_id: 'lead-1', crm: 'hubspot', crm_record_id: '901', email: 'a@example.com' } }) as BusinessEvent;

  it('does not decode a sync when no CRM is configured, and says the checks were skipped', () => {
    const stage = crmStage({ now: REPLAY_NOW, reviewFactor: 3, crms: {} });
    const { e, reads } = counted(sync);
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
    const { e, reads } = counted(sync);
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
