import { failureReport } from '../../shared/boundary';
import { TransientError } from '../../shared/errors';
import { mergeFailure } from '../../shared/failures';

/**
 * The class a failure is recorded under (DESIGN §5): a fault of the moment is `transient` whether
 * the project wrapped it or a Google client threw it with its gRPC status; a bug is `poison`.
 */
describe('failure class', () => {
  const classOf = (err: unknown) => failureReport('deduplicator', 'deduplicator-events-valid', 'm1', { id: 'e1' }, 'e30=', err, 0).class;
  const grpc = (code: number, message: string) => Object.assign(new Error(message), { code, details: message });
  const sys = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:8080`), { code, syscall: 'connect' });

  it.each([
    ['a TransientError', new TransientError('stripe: 503', 'STRIPE_503')],
    ['Firestore ABORTED (contention, a lock timeout)', grpc(10, '10 ABORTED: Transaction lock timeout.')],
    ['UNAVAILABLE', grpc(14, '14 UNAVAILABLE: No connection established')],
    ['DEADLINE_EXCEEDED', grpc(4, '4 DEADLINE_EXCEEDED: Deadline exceeded')],
    ['RESOURCE_EXHAUSTED', grpc(8, '8 RESOURCE_EXHAUSTED: Quota exceeded.')],
    ['INTERNAL', grpc(13, '13 INTERNAL: Received RST_STREAM')],
    ['a refused connection', sys('ECONNREFUSED')],
    ['a reset connection', sys('ECONNRESET')],
  ])('%s is transient', (_name, err) => {
    expect(classOf(err)).toBe('transient');
  });

  it.each([
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['INVALID_ARGUMENT', grpc(3, '3 INVALID_ARGUMENT: Document too large')],
    ['FAILED_PRECONDITION (a missing index)', grpc(9, '9 FAILED_PRECONDITION: The query requires an index.')],
    ['PERMISSION_DENIED', grpc(7, '7 PERMISSION_DENIED: Missing or insufficient permissions.')],
    ['a thrown string', 'boom'],
  ])('%s is poison', (_name, err) => {
    expect(classOf(err)).toBe('poison');
  });
});

describe('failure class over attempts', () => {
  const report = (err: unknown, at: number) => failureReport('call-duration-checker', 'call-duration-checker-calls', 'm1', { id: 'e1' }, 'e30=', err, at);
  const unavailable = Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 });

  it('keeps poison once an attempt failed as poison: a later blip does not make the bug transient', () => {
    let record = mergeFailure(undefined, report(new SyntaxError('Unterminated string in JSON at position 528'), 1));
    record = mergeFailure(record, report(unavailable, 2));
    expect(record).toMatchObject({ class: 'poison', attempts: 2, error_class: 'SyntaxError' });
  });

  it('takes the latest attempt when none was poison', () => {
    let record = mergeFailure(undefined, report(new TransientError('stripe: 503', 'STRIPE_503'), 1));
    record = mergeFailure(record, report(unavailable, 2));
    expect(record).toMatchObject({ class: 'transient', attempts: 2, code: '14' });
  });
});
