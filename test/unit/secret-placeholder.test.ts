/**
 * A first apply creates every secret with Terraform's placeholder version (modules/secrets), so
 * the functions can start before anyone has set a value: a function reads the placeholder as
 * unset. An optional key then turns its check off; a required one is a ConfigError that names the
 * variable and says its secret needs a version.
 */
import { z } from 'zod';
import { readConfig, unsetSecrets } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { topology } from '../../shared/topology';
import { Env as revenueCheckerEnv } from '../../functions/revenue-checker';

const PLACEHOLDER = topology.secretPlaceholder;

describe("Terraform's secret placeholder", () => {
  it('is in the manifest, long enough never to be a real value by chance', () => {
    expect(PLACEHOLDER.length).toBeGreaterThanOrEqual(16);
    expect(unsetSecrets({ STRIPE_API_KEY: PLACEHOLDER, OXR_APP_ID: 'abc', TWILIO_AUTH_TOKEN: PLACEHOLDER })).toEqual(['STRIPE_API_KEY', 'TWILIO_AUTH_TOKEN']);
  });

  it('reads as unset: an optional key is absent', () => {
    const c = readConfig(revenueCheckerEnv, { OXR_APP_ID: 'abc', STRIPE_API_KEY: PLACEHOLDER }, 'revenue-checker');
    expect(c.STRIPE_API_KEY).toBeUndefined();
    expect(c.OXR_APP_ID).toBe('abc');
  });

  it('fails a required key with a ConfigError naming the variable and its missing version', () => {
    const schema = z.object({ DLQ_API_TOKEN: z.string().min(16) });
    let caught: unknown;
    try {
      readConfig(schema, { DLQ_API_TOKEN: PLACEHOLDER }, 'dlq-triage');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toMatch(/DLQ_API_TOKEN/);
    expect((caught as Error).message).toMatch(/DLQ_API_TOKEN holds only Terraform's placeholder: add a version of its secret/);
  });
});
