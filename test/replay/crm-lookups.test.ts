import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDemo } from '../../cli/generate/demo';
import { checkerStages } from '../../cli/replay/checker-stages';
import { realSleep } from '../../shared/adapters/rate-limiter';
import type { Finding } from '../../shared/findings';
import { startHubSpotFake } from '../../tools/local/fakes/hubspot';
import { startSalesforceFake } from '../../tools/local/fakes/salesforce';
import { compareWithFaults } from '../../tools/local/expected';
import { replayText } from '../support/replay';

/**
 * crm-checker in replay: the demo's log with its CRM faults, the CRM lookups in flight against
 * the HubSpot and Salesforce stand-ins (answers 1-16 ms apart, a 429 and a 503 on the way), the
 * same bytes whatever the concurrency, and exactly the CRM findings the fault manifest expects.
 */
const NOW = Date.parse('2026-03-01T12:00:00Z');
const jitter = (path: string) => 1 + ([...path].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % 16);
const FAST_RETRY = { attempts: 5, baseDelayMs: 5, maxDelayMs: 50, sleep: realSleep };
const OUTPUTS = ['findings.ndjson', 'events.ndjson', 'summary.json'] as const;
const bytes = (dir: string) => Object.fromEntries(OUTPUTS.map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

describe('replay with CRM lookups in flight', () => {
  const demo = buildDemo({ now: NOW });
  const log = demo.messages.map((m) => `${m.data}\n`).join('');
  const crmFaults = demo.faults.filter((f) => f.detectedBy === 'crm-checker');

  async function run(maxInFlight: number) {
    const hubspotRecords = demo.world.crmRecords.filter((r) => r.crm === 'hubspot');
    const salesforceRecords = demo.world.crmRecords.filter((r) => r.crm === 'salesforce');
    // The first record of each CRM is rate-limited, the second unavailable, once each: retried.
    const script = <T>(i: number, value: T) => (i === 0 ? [{ fault: 'rate_limit' as const, retryAfterSeconds: 0 }, value] : i === 1 ? [{ fault: 'server_error' as const, status: 503 }, value] : value);
    const hubspot = await startHubSpotFake(
      { accessToken: 'pat-replay', contacts: Object.fromEntries(hubspotRecords.map((r, i) => [r.id, script(i, { email: r.email, phone: r.phone })])) },
      { latencyMs: jitter },
    );
    const salesforce = await startSalesforceFake(
      { accessToken: 'sf-replay', records: Object.fromEntries(salesforceRecords.map((r, i) => [r.id, script(i, { Email: r.email, Phone: r.phone })])) },
      { latencyMs: jitter },
    );
    try {
      const env = {
        HUBSPOT_ACCESS_TOKEN: 'pat-replay',
        HUBSPOT_API_BASE: hubspot.url,
        HUBSPOT_MAX_RPS: '10000',
        HUBSPOT_BURST: '1000',
        SALESFORCE_INSTANCE_URL: salesforce.url,
        SALESFORCE_ACCESS_TOKEN: 'sf-replay',
        SALESFORCE_MAX_RPS: '10000',
        SALESFORCE_BURST: '1000',
      };
      const stages = checkerStages({ now: NOW, env }, FAST_RETRY);
      const result = await replayText(log, { now: NOW, env, stages, maxInFlight, rates: demo.world.rates });
      return { result, requests: hubspot.requests.length + salesforce.requests.length, peak: Math.max(hubspot.peakInFlight, salesforce.peakInFlight) };
    } finally {
      await hubspot.close();
      await salesforce.close();
    }
  }

  it('writes byte for byte what one lookup at a time writes, and finds exactly the CRM faults', async () => {
    const one = await run(1);
    const many = await run(8);
    expect(one.peak).toBe(1);
    expect(many.peak).toBeGreaterThan(1);
    expect(many.requests).toBe(one.requests);
    expect(bytes(many.result.dir)).toEqual(bytes(one.result.dir));
    expect(one.result.summary).toMatchObject({ checks: { hubspot: 'on', salesforce: 'on' } });
    const findings = readFileSync(join(one.result.dir, 'findings.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Finding);
    const crm = findings.filter((f) => f.kind === 'crm_mismatch');
    const comparison = compareWithFaults(crmFaults, crm, new Set(['crm-checker']));
    expect(crmFaults.length).toBe(3);
    expect(comparison.unexpected).toEqual([]);
    expect(comparison.injectors.flatMap((o) => o.missed)).toEqual([]);
    // Masked: the findings carry no email or phone in the clear.
    expect(JSON.stringify(crm)).not.toMatch(/[a-z]{2,}@|\+1415555\d{4}/);
  });
});
