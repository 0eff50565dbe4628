import { checkCall, type CallFact } from '../../functions/call-duration-checker/core';
import { CallCompleted } from '../../shared/events/envelope';
import { callCompleted } from '../support/events';

const ctx = { now: Date.parse('2026-03-01T12:00:00Z') };
const about = { event_id: 'call-1', type: 'call.completed', source: '//test/producer', field: 'duration_seconds' };
const call = (duration: number) => CallCompleted.parse(callCompleted({ id: 'call-1', data: { duration_seconds: duration } }));
const twilio = (status: string, durationSeconds: number | undefined): CallFact => ({
  kind: 'found',
  call: { sid: call(0).data.call_sid, status, durationSeconds },
});

describe('call-duration-checker core', () => {
  it.each<[string, number, CallFact, unknown]>([
    ['a matching duration', 42, twilio('completed', 42), { kind: 'decided', outcome: { findings: [] } }],
    ['without Twilio, a non-zero call', 42, { kind: 'unchecked' }, { kind: 'decided', outcome: { findings: [] } }],
    [
      'without Twilio, a call of 0 s',
      0,
      { kind: 'unchecked' },
      { kind: 'decided', outcome: { findings: [{ kind: 'call_duration_mismatch', action: 'review', ...about, actual: 0, reason: 'a completed call of 0 s (not checked with Twilio)' }] } },
    ],
    [
      'a call Twilio does not know',
      42,
      { kind: 'not_found', reason: 'Twilio: The requested resource was not found' },
      { kind: 'decided', outcome: { findings: [{ kind: 'call_duration_mismatch', action: 'review', ...about, actual: 42, reason: 'Twilio: The requested resource was not found' }] } },
    ],
    [
      'a completed call of 0 s at Twilio',
      42,
      twilio('completed', 0),
      { kind: 'decided', outcome: { findings: [{ kind: 'call_duration_mismatch', action: 'review', ...about, expected: 0, actual: 42, reason: 'Twilio reports a completed call of 0 s' }] } },
    ],
    [
      'a call of 0 s at both ends',
      0,
      twilio('completed', 0),
      { kind: 'decided', outcome: { findings: [{ kind: 'call_duration_mismatch', action: 'review', ...about, expected: 0, actual: 0, reason: 'Twilio reports a completed call of 0 s' }] } },
    ],
    [
      'a call that never connected',
      42,
      twilio('no-answer', undefined),
      { kind: 'decided', outcome: { findings: [{ kind: 'call_duration_mismatch', action: 'review', ...about, actual: 42, reason: 'Twilio reports the call as no-answer, not completed' }] } },
    ],
    [
      'a completed call without a duration',
      42,
      twilio('completed', undefined),
      { kind: 'decided', outcome: { findings: [{ kind: 'call_duration_mismatch', action: 'review', ...about, actual: 42, reason: 'Twilio reports no duration for the completed call' }] } },
    ],
    [
      'a call still in progress',
      42,
      twilio('in-progress', undefined),
      {
        kind: 'not_ended',
        reason: 'Twilio reports the call as in-progress',
        fallback: { findings: [{ kind: 'call_duration_mismatch', action: 'review', ...about, actual: 42, reason: 'Twilio reports the call as in-progress' }] },
      },
    ],
  ])('%s', (_name, recorded, fact, verdict) => {
    expect(checkCall(call(recorded), fact, ctx)).toEqual(verdict);
  });

  it.each([
    [42, 57],
    [60, 6],
    [0, 30],
  ])('corrects a recorded %i s to Twilio\'s %i s', (recorded, actual) => {
    const original = call(recorded);
    const verdict = checkCall(original, twilio('completed', actual), ctx);
    expect(verdict).toEqual({
      kind: 'decided',
      outcome: {
        findings: [{ kind: 'call_duration_mismatch', action: 'corrected', ...about, expected: actual, actual: recorded }],
        correction: {
          specversion: '1.0',
          id: expect.stringMatching(/^corr-/),
          source: '//event-recovery/call-duration-checker',
          type: 'call.completed',
          time: original.time,
          correctionof: 'call-1',
          data: { ...original.data, duration_seconds: actual },
        },
      },
    });
    expect(CallCompleted.safeParse(verdict.kind === 'decided' ? verdict.outcome.correction : undefined).success).toBe(true);
  });
});
