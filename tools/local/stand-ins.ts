/**
 * The local stand-ins for the external APIs the checkers call: Stripe, Twilio,
 * OpenExchangeRates, HubSpot and Salesforce (local/fakes/*.ts). The stack starts each before the functions, feeds it the
 * demo's truth, and hands the functions the environment that points them at it. To add one,
 * add an entry to STAND_INS.
 */
import type { DemoWorld, UpstreamFaults } from '../../cli/generate/demo';
import { startHubSpotFake } from './fakes/hubspot';
import { startOxrFake } from './fakes/openexchangerates';
import { startSalesforceFake } from './fakes/salesforce';
import { startStripeFake } from './fakes/stripe';
import { startTwilioFake } from './fakes/twilio';

/** A local stand-in for an external API the checkers call (local/fakes/*.ts). */
export interface StandIn {
  readonly name: string;
  /**
   * Starts it serving the demo's truth (payment intents, calls, rates), and, with `faults`, the
   * wrong answers the local stack's demo asks of it (demo/upstream-faults).
   */
  start(world: DemoWorld, faults?: UpstreamFaults): Promise<{ url: string; close(): Promise<void> }>;
  /** The environment that points the functions at it. */
  env(url: string): Record<string, string>;
}

/** Credentials the stand-ins expect: local-only values, never real keys. */
const LOCAL_KEYS = {
  stripe: 'sk_test_local_event_recovery',
  twilioSid: `AC${'0'.repeat(31)}1`,
  twilioToken: 'local-twilio-token',
  oxr: 'local-oxr-app-id',
  hubspot: 'pat-local-event-recovery',
  salesforce: '00Dlocal!event-recovery-session',
} as const;

/**
 * The stand-ins for Stripe, Twilio and OpenExchangeRates: started before the functions, fed
 * with the demo's truth, and handed to every function as environment. One entry each.
 */
export const STAND_INS: readonly StandIn[] = [
  {
    name: 'stripe',
    start: (world, faults) =>
      startStripeFake({
        apiKey: LOCAL_KEYS.stripe,
        paymentIntents: {
          ...Object.fromEntries(world.paymentIntents.map((p) => [p.id, { amount: p.amount, currency: p.currency, status: p.status }])),
          ...Object.fromEntries((faults?.stripeUnavailable ?? []).map((id) => [id, { fault: 'server_error', status: 503 } as const])),
        },
      }),
    env: (url) => ({ STRIPE_API_BASE: url, STRIPE_API_KEY: LOCAL_KEYS.stripe }),
  },
  {
    name: 'twilio',
    start: (world, faults) =>
      startTwilioFake({
        accountSid: LOCAL_KEYS.twilioSid,
        authToken: LOCAL_KEYS.twilioToken,
        calls: {
          ...Object.fromEntries(world.calls.map((c) => [c.sid, { status: c.status, duration: c.duration, from: c.from, to: c.to }])),
          ...Object.fromEntries((faults?.twilioMalformed ?? []).map((sid) => [sid, { fault: 'malformed' } as const])),
        },
      }),
    env: (url) => ({ TWILIO_API_BASE: url, TWILIO_ACCOUNT_SID: LOCAL_KEYS.twilioSid, TWILIO_AUTH_TOKEN: LOCAL_KEYS.twilioToken }),
  },
  {
    name: 'openexchangerates',
    start: (world) => startOxrFake({ appId: LOCAL_KEYS.oxr, days: world.rates.days }),
    env: (url) => ({ OXR_API_BASE: url, OXR_APP_ID: LOCAL_KEYS.oxr }),
  },
  {
    name: 'hubspot',
    start: (world) =>
      startHubSpotFake({
        accessToken: LOCAL_KEYS.hubspot,
        contacts: Object.fromEntries(world.crmRecords.filter((r) => r.crm === 'hubspot').map((r) => [r.id, { email: r.email, phone: r.phone }])),
      }),
    env: (url) => ({ HUBSPOT_API_BASE: url, HUBSPOT_ACCESS_TOKEN: LOCAL_KEYS.hubspot }),
  },
  {
    name: 'salesforce',
    start: (world) =>
      startSalesforceFake({
        accessToken: LOCAL_KEYS.salesforce,
        records: Object.fromEntries(world.crmRecords.filter((r) => r.crm === 'salesforce').map((r) => [r.id, { Email: r.email, Phone: r.phone }])),
      }),
    env: (url) => ({ SALESFORCE_INSTANCE_URL: url, SALESFORCE_ACCESS_TOKEN: LOCAL_KEYS.salesforce }),
  },
];
