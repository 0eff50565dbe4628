import { visit } from 'jsonc-parser';

/**
 * Duplicate names in a JSON object. RFC 8259 §4: "The names within an object SHOULD be unique
 * ... When the names within an object are not unique, the behavior of software that receives
 * such an object is unpredictable": `JSON.parse` keeps the last silently, other readers keep the
 * first or refuse. An event whose bytes two readers read as two events is not forwarded.
 *
 * `JSON.parse` cannot see them, and a second, careful parse of every event would cost replay
 * about as much again, so the check is in two steps:
 * - a proof of absence that costs a few native string scans: in a text with no escaped quote
 *   (`\"`) and no quote followed by white space, every `":` ends a name (a string value cannot hold
 *   a bare `"`, and a name is followed by its colon at once), so counting `":` counts the names
 *   written; the parsed value holds one property per distinct name of each object. Equal counts:
 *   no name repeats. (A repeated name loses at least itself in the parsed value.)
 * - otherwise (the proof does not apply, or the counts differ) a careful pass that tracks the
 *   names of each object, with jsonc-parser's scanner (names unescaped: `"t\u0079pe"` is `type`).
 */

/** Past this nesting the walk gives up: the depth rule of validate.ts rejects such an event anyway. */
const MAX_WALK_DEPTH = 80;

/**
 * The path of the first name that repeats within one object, in document order (the repeated
 * name last), or `undefined` when every object's names are unique. `value` is `JSON.parse(text)`.
 * Also `undefined` for a value nested deeper than any valid event (see above), so that the
 * careful pass never recurses without bound.
 */
export function duplicateKeyPath(text: string, value: unknown): string[] | undefined {
  const names = propertiesIn(value, 0);
  if (names < 0) return undefined;
  if (!RISKY.test(text) && namesWritten(text) === names) return undefined;
  return firstDuplicate(text);
}

/** An escaped quote, or a quote followed by white space: where counting `":` may miss a name. */
const RISKY = /\\"|"[ \t\n\r]/;

function namesWritten(text: string): number {
  let n = 0;
  for (let i = text.indexOf('":'); i !== -1; i = text.indexOf('":', i + 2)) n++;
  return n;
}

/** Properties of every object in `value`; -1 when it nests deeper than MAX_WALK_DEPTH. */
function propertiesIn(value: unknown, depth: number): number {
  if (value === null || typeof value !== 'object') return 0;
  if (depth > MAX_WALK_DEPTH) return -1;
  let n = 0;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === 'object') {
        const inner = propertiesIn(item, depth + 1);
        if (inner < 0) return -1;
        n += inner;
      }
    }
    return n;
  }
  for (const key in value) {
    n++;
    const item = (value as Record<string, unknown>)[key];
    if (item !== null && typeof item === 'object') {
      const inner = propertiesIn(item, depth + 1);
      if (inner < 0) return -1;
      n += inner;
    }
  }
  return n;
}

/** The careful pass: the names seen in each open object, on a stack. */
function firstDuplicate(text: string): string[] | undefined {
  const open: Set<string>[] = [];
  let found: string[] | undefined;
  visit(text, {
    onObjectBegin: () => {
      if (found !== undefined) return false; // skip the rest
      open.push(new Set());
    },
    onObjectEnd: () => {
      open.pop();
    },
    onObjectProperty: (name, _offset, _length, _line, _column, pathSupplier) => {
      if (found !== undefined) return;
      const names = open[open.length - 1]!;
      if (names.has(name)) found = [...pathSupplier().map(String), name];
      else names.add(name);
    },
  });
  return found;
}
