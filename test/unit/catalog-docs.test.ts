import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { eventTypes, type EventType } from '../../shared/events/catalog';
import { EXAMPLE_EVENTS } from '../../shared/events/examples';
import { validateEvent, DEFAULT_MAX_FUTURE_MS } from '../../shared/events/validate';
import { eventJsonSchema } from '../../cli/commands/schema';

const CLI = resolve(__dirname, '../../dist/cli/event-recovery.js');
const ctx = { now: Date.parse('2026-03-02T00:00:00Z'), maxFutureMs: DEFAULT_MAX_FUTURE_MS };
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

/** The README's catalog: each `### \`type\`` heading and the first json block under it. */
function readmeExamples(): Map<string, unknown> {
  const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The event catalog'), readme.indexOf('### Duplicates and findings'));
  const found = new Map<string, unknown>();
  for (const m of section.matchAll(/^### `([a-z.]+)`\n[\s\S]*?```json\n([\s\S]*?)\n```/gm)) found.set(m[1]!, JSON.parse(m[2]!));
  return found;
}

describe('the catalog, documented', () => {
  const ajv = new Ajv2020({ strict: false });

  it.each(eventTypes)('the example %s is valid for the validator and for its exported JSON Schema', (type) => {
    const example = EXAMPLE_EVENTS[type];
    const v = validateEvent(example, ctx);
    expect(v.ok ? 'valid' : v.reason).toBe('valid');
    const check = ajv.compile(eventJsonSchema(type));
    expect(check(example)).toBe(true);
    expect(ajv.compile(eventJsonSchema())(example)).toBe(true);
  });

  it.each(eventTypes)('the JSON Schema of %s rejects the example without its first required data field, as the validator does', (type) => {
    const example = structuredClone(EXAMPLE_EVENTS[type]) as { data: Record<string, unknown> };
    const schema = eventJsonSchema(type) as { properties: { data: { required: string[] } } };
    delete example.data[schema.properties.data.required[0]!];
    expect(ajv.compile(schema)(example)).toBe(false);
    expect(validateEvent(example, ctx).ok).toBe(false);
  });

  it('the README shows one example per type, each valid and the same as `event-recovery example`', () => {
    const examples = readmeExamples();
    expect([...examples.keys()]).toEqual(eventTypes);
    for (const [type, example] of examples) {
      const v = validateEvent(example, ctx);
      expect(v.ok ? type : `${type}: ${v.reason}`).toBe(type);
      expect(example).toEqual(EXAMPLE_EVENTS[type as EventType]);
    }
  });

  it('the README lists every data field of every type', () => {
    const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');
    for (const type of eventTypes) {
      const start = readme.indexOf(`### \`${type}\``);
      const section = readme.slice(start, readme.indexOf('```json', start));
      const fields = Object.keys((eventJsonSchema(type) as { properties: { data: { properties: object } } }).properties.data.properties);
      for (const field of fields) expect(`${type}: ${section.includes(`\`${field}\``) ? field : `${field} is not documented`}`).toBe(`${type}: ${field}`);
    }
  });

  it('`event-recovery example TYPE` prints one valid JSON line; `schema` prints JSON Schema; bad types exit 2', () => {
    const r = cli('example', 'call.completed');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual(EXAMPLE_EVENTS['call.completed']);
    const s = cli('schema', 'sale.recorded');
    expect(s.status).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema', properties: { type: { const: 'sale.recorded' } } });
    expect(JSON.parse(cli('schema').stdout).oneOf).toHaveLength(eventTypes.length);
    for (const args of [['example'], ['example', 'lead.deleted'], ['schema', 'x', 'y']]) {
      const bad = cli(...args);
      expect(bad.status).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
