import { ConfigError } from '../../shared/errors';
import { parseFaultInject } from '../../shared/fault-inject';

describe('FAULT_INJECT', () => {
  it('is off when unset or empty', () => {
    expect(parseFaultInject(undefined, 'validator')).toEqual([]);
    expect(parseFaultInject('  ', 'validator')).toEqual([]);
  });

  it.each([
    ['after-state-write:5', 'deduplicator', 1, [{ boundary: 'after-state-write', at: 5 }]],
    ['after-state-write:5', 'deduplicator', 2, []],
    ['deduplicator:after-publish:3', 'deduplicator', 1, [{ boundary: 'after-publish', at: 3 }]],
    ['deduplicator:after-publish:3', 'validator', 1, []],
    ['deduplicator#4:mid-claim:20', 'deduplicator', 4, [{ boundary: 'mid-claim', at: 20 }]],
    ['gap-detector#2:mid-batch:1,gap-detector#1:after-publish:4', 'gap-detector', 2, [{ boundary: 'mid-batch', at: 1 }]],
    ['gap-detector#2:mid-batch:1,gap-detector#1:after-publish:4', 'gap-detector', 1, [{ boundary: 'after-publish', at: 4 }]],
  ] as const)('%s for %s instance %i', (text, fn, instance, specs) => {
    expect(parseFaultInject(text, fn, instance)).toEqual(specs);
  });

  it.each(['after-lunch:5', 'after-publish:0', 'after-publish:x', 'validator#0:after-publish:1', 'a:b:c:d'])('rejects %s with a clear message', (text) => {
    expect(() => parseFaultInject(text, 'validator')).toThrow(ConfigError);
    expect(() => parseFaultInject(text, 'validator')).toThrow(/FAULT_INJECT: .* is not \[function\[#instance\]:\]boundary:pass/);
  });
});
