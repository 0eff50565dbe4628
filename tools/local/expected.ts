import type { Finding } from '../../shared/findings';
import type { FunctionName } from '../../shared/topology';
import type { ExpectedFinding, ExternalLookup, InjectedFault } from '../../cli/generate/demo';

/** How one injector's faults fared: every expected finding matched to at most one found finding. */
export interface InjectorOutcome {
  readonly injector: string;
  readonly detectedBy: FunctionName;
  readonly faults: number;
  readonly expected: number;
  readonly matched: number;
  /**
   * False when the function that detects these faults was not running, or ran without what it
   * needs to see them (Stripe, Twilio, the rates): nothing to compare. `notChecked` says which.
   */
  readonly checked: boolean;
  readonly notChecked?: string;
  readonly missed: ReadonlyArray<{ readonly detail: string; readonly expected: ExpectedFinding }>;
}

export interface Comparison {
  readonly injectors: readonly InjectorOutcome[];
  /** Findings that no injected fault explains. */
  readonly unexpected: readonly Finding[];
  /** True when every checked fault was found and nothing unexpected was. */
  readonly ok: boolean;
}

export function matches(expected: ExpectedFinding, found: Finding): boolean {
  for (const [key, value] of Object.entries(expected.match)) {
    const actual: unknown = found[key as keyof Finding];
    // A value may be an object (a swapped record's `expected` is {email, phone}): equal as JSON.
    const same = actual === value || (typeof value === 'object' && value !== null && JSON.stringify(actual) === JSON.stringify(value));
    if (!same) return false;
  }
  return expected.reasonIncludes === undefined || (found.reason ?? '').includes(expected.reasonIncludes);
}

/**
 * Compares the findings with the injected faults. The most specific expectations claim their
 * finding first, so a loose one (a bad-JSON `invalid` has no event id) cannot take the finding
 * a precise one needs. Faults of functions not in `detectors`, and faults that need a lookup
 * not in `lookups` (default: all, as the local stack serves a stand-in for each), are reported
 * as not checked.
 */
export function compareWithFaults(
  faults: readonly InjectedFault[],
  findings: readonly Finding[],
  detectors: ReadonlySet<string>,
  lookups?: ReadonlySet<ExternalLookup>,
): Comparison {
  const claimed = new Set<number>();
  const wanted = faults.flatMap((fault, f) => fault.expect.map((expected) => ({ fault, f, expected })));
  const specificity = (e: ExpectedFinding) => Object.keys(e.match).length + (e.reasonIncludes ? 1 : 0);
  const missedBy = new Map<number, Array<{ detail: string; expected: ExpectedFinding }>>();
  const matchedBy = new Map<number, number>();
  for (const w of wanted.slice().sort((a, b) => specificity(b.expected) - specificity(a.expected))) {
    const index = findings.findIndex((found, i) => !claimed.has(i) && matches(w.expected, found));
    if (index >= 0) {
      claimed.add(index);
      matchedBy.set(w.f, (matchedBy.get(w.f) ?? 0) + 1);
    } else {
      missedBy.set(w.f, [...(missedBy.get(w.f) ?? []), { detail: w.fault.detail, expected: w.expected }]);
    }
  }
  const byInjector = new Map<string, InjectorOutcome>();
  faults.forEach((fault, f) => {
    const prev = byInjector.get(fault.injector);
    const lacking = lookups ? (fault.needs ?? []).filter((n) => !lookups.has(n)) : [];
    const notChecked = !detectors.has(fault.detectedBy) ? `${fault.detectedBy} is not served` : lacking.length > 0 ? `${fault.detectedBy} runs without ${lacking.join(', ')}` : undefined;
    const checked = notChecked === undefined;
    byInjector.set(fault.injector, {
      injector: fault.injector,
      detectedBy: fault.detectedBy,
      checked,
      ...(notChecked ? { notChecked } : {}),
      faults: (prev?.faults ?? 0) + 1,
      expected: (prev?.expected ?? 0) + fault.expect.length,
      matched: (prev?.matched ?? 0) + (matchedBy.get(f) ?? 0),
      missed: [...(prev?.missed ?? []), ...(missedBy.get(f) ?? [])],
    });
  });
  const injectors = [...byInjector.values()];
  const unexpected = findings.filter((_, i) => !claimed.has(i));
  const ok = unexpected.length === 0 && injectors.every((o) => !o.checked || o.missed.length === 0);
  return { injectors, unexpected, ok };
}
