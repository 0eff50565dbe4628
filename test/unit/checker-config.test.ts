import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ratesFromEnv, RatesEnv, StripeEnv } from '../../shared/adapters/external';
import { FileRates } from '../../shared/adapters/file-rates';
import { MemoryOutcomeLedger } from '../../shared/adapters/memory-ledger';
import { ConfigError } from '../../shared/errors';
import { parseOutcome } from '../../shared/outcome';
import { register as registerRevenue } from '../../functions/revenue-checker';
import { register as registerCalls } from '../../functions/call-duration-checker';
import { register as registerCrm } from '../../functions/crm-checker';

const clock = { now: () => 0 };

function captureStdout<T>(fn: () => T): { result: T | Error; out: string } {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    return { result: fn(), out: chunks.join('') };
  } catch (err) {
    return { result: err as Error, out: chunks.join('') };
  } finally {
    spy.mockRestore();
  }
}

describe('checker configuration', () => {
  it('fails the revenue-checker cold start without a source of rates', () => {
    expect(() => registerRevenue({})).toThrow(ConfigError);
    expect(() => registerRevenue({})).toThrow(/set OXR_APP_ID \(OpenExchangeRates\) or, for local runs, RATES_FILE/);
  });

  it('names a bad setting without quoting any key', () => {
    const err = captureStdout(() => registerRevenue({ OXR_APP_ID: 'oxr-secret-1234', STRIPE_API_KEY: 'sk_live_secret', STRIPE_API_BASE: 'ftp://nope', REVIEW_FACTOR: '0.5' })).result;
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/STRIPE_API_BASE/);
    expect(String((err as Error).message)).toMatch(/REVIEW_FACTOR/);
    expect(String((err as Error).message)).not.toMatch(/oxr-secret|sk_live_secret/);
  });

  it('never logs a key at cold start', () => {
    const { result, out } = captureStdout(() => registerRevenue({ OXR_APP_ID: 'oxr-secret-1234', STRIPE_API_KEY: 'sk_live_secret' }));
    expect(result).toBeUndefined();
    expect(out).toMatch(/"message":"revenue-checker configured"/);
    expect(out).not.toMatch(/oxr-secret|sk_live_secret/);
    const calls = captureStdout(() => registerCalls({ TWILIO_ACCOUNT_SID: `AC${'e'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'twilio-secret' }));
    expect(calls.result).toBeUndefined();
    expect(calls.out).not.toMatch(/twilio-secret/);
  });

  it('starts crm-checker with the CRMs whose secrets hold values (a blank one is unused), never logging them', () => {
    const { result, out } = captureStdout(() =>
      registerCrm({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-secret-token', SALESFORCE_INSTANCE_URL: ' ', SALESFORCE_ACCESS_TOKEN: ' ' }),
    );
    expect(result).toBeUndefined();
    expect(out).toMatch(/"message":"crm-checker configured","function":"crm-checker","hubspot":"on","salesforce":"off: no SALESFORCE_INSTANCE_URL\/SALESFORCE_ACCESS_TOKEN","repair":"off"/);
    expect(out).not.toMatch(/pat-na1-secret/);
    const bad = captureStdout(() => registerCrm({ SALESFORCE_INSTANCE_URL: 'ftp://org.example', SALESFORCE_ACCESS_TOKEN: 'sf-secret', CRM_REPAIR: 'yes' })).result;
    expect(String((bad as Error).message)).toMatch(/SALESFORCE_INSTANCE_URL[\s\S]*CRM_REPAIR|CRM_REPAIR[\s\S]*SALESFORCE_INSTANCE_URL/);
    expect(String((bad as Error).message)).not.toMatch(/sf-secret/);
  });

  it('rejects an account SID that is not one', () => {
    expect(() => registerCalls({ TWILIO_ACCOUNT_SID: 'XX123', TWILIO_AUTH_TOKEN: 't' })).toThrow('TWILIO_ACCOUNT_SID must start with AC');
  });

  it('treats empty keys as absent', () => {
    expect(StripeEnv.parse({ STRIPE_API_KEY: '' }).STRIPE_API_KEY).toBeUndefined();
  });

  it('reads rates from RATES_FILE for local runs, and not together with OXR_APP_ID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rates-'));
    const path = join(dir, 'rates.json');
    writeFileSync(path, JSON.stringify({ base: 'USD', days: { '2026-03-01': { EUR: 0.92 } } }));
    const rates = ratesFromEnv(RatesEnv.parse({ RATES_FILE: path }), { clock });
    expect(rates).toBeInstanceOf(FileRates);
    await expect(rates!.rate('EUR', '2026-03-01')).resolves.toEqual({ kind: 'rate', rate: 0.92 });
    await expect(rates!.rate('EUR', '2026-03-02')).resolves.toEqual({ kind: 'missing', reason: 'no exchange rate for EUR on 2026-03-02' });
    await expect(rates!.rate('USD', '1999-01-01')).resolves.toEqual({ kind: 'rate', rate: 1 });
    expect(() => ratesFromEnv(RatesEnv.parse({ RATES_FILE: path, OXR_APP_ID: 'x' }), { clock })).toThrow('set OXR_APP_ID or RATES_FILE, not both');
    writeFileSync(path, JSON.stringify({ base: 'EUR', days: {} }));
    expect(() => ratesFromEnv(RatesEnv.parse({ RATES_FILE: path }), { clock })).toThrow(/must be "USD"/);
  });

  it('does not take inherited names for days or currencies', () => {
    const rates = new FileRates({ base: 'USD', days: { '2026-03-01': { EUR: 0.92 } } });
    expect(rates.lookup('constructor', '2026-03-01')).toMatchObject({ kind: 'missing' });
    expect(rates.lookup('EUR', 'toString')).toMatchObject({ kind: 'missing' });
  });
});

describe('outcome records', () => {
  it('reads back what was recorded and rejects what is not an outcome', () => {
    const outcome = { findings: [{ kind: 'fx_mismatch' as const, action: 'review' as const, event_id: 'e', field: 'amount_usd', actual: 1, reason: 'r' }] };
    expect(parseOutcome(JSON.stringify(outcome))).toEqual({ ok: true, outcome });
    expect(parseOutcome('{"findings":[{"kind":"nope","action":"review"}]}')).toMatchObject({ ok: false });
    expect(parseOutcome('not json')).toMatchObject({ ok: false });
  });

  it('keeps the first decision in memory (test-and-set)', async () => {
    const ledger = new MemoryOutcomeLedger();
    const first = { outcome: { findings: [] }, published: true };
    expect(await ledger.record('r', 'e', first)).toBe(first);
    expect(await ledger.record('r', 'e', { outcome: { findings: [{ kind: 'gap', action: 'reported', from_sequence: 2, to_sequence: 3 }] }, published: false })).toBe(first);
  });
});
