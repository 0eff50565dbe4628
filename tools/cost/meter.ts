/**
 * Counts what a function process costs, for `npm run cost`: loaded first into each function of the
 * local stack (`node --require dist/tools/cost/meter.js`, set by tools/cost/run.ts through
 * NODE_OPTIONS) and inert unless EVENT_RECOVERY_METER_DIR is set. Nothing in the product imports it.
 *
 * It gives every Firestore and Pub/Sub client the process creates a gRPC call hook (grpc-js's
 * `callInvocationTransformer`, passed through google-gax as `grpc.callInvocationTransformer`),
 * which sees each RPC's request and its answers on the wire:
 * - Firestore Commit (answered OK): a write per `update`/`transform` write, a delete per `delete`,
 *   and both per document path with the most writes in one second (the hot-document histogram);
 * - BatchGetDocuments: a read per `found` document, and per `missing` one;
 * - RunQuery: a read per document returned, one for a query that returns none;
 * - Pub/Sub Publish (answered OK): the request, its messages and their bytes, per topic;
 * - Bigtable (the data API's gRPC calls, per table): MutateRows and MutateRow, a row written per
 *   entry the server applied (a row deleted where the entry deletes the row), with the bytes of its
 *   cells; CheckAndMutateRow, a row read, and a row written (or deleted) when the branch the
 *   predicate chose had mutations; ReadModifyWriteRow, a row read and written; ReadRows, a row
 *   read per row returned, and an empty read for a call that returned none. Bigtable bills nodes,
 *   not operations: these counts are what a node must serve (tools/cost/table.ts prices them as
 *   node time at a rate).
 * Every second (METER_INTERVAL_MS) it writes them, with the process's CPU time (process.cpuUsage)
 * less what its own writes took (the meter does not run in GCP), to `<dir>/<function>-<pid>.json`.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// The modules' own export objects, not `import *` copies: the hook replaces their classes in place.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import firestoreModule = require('@google-cloud/firestore');
// The package index re-exports PubSub through a getter; the class lives here, as a plain export.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import pubsubModule = require('@google-cloud/pubsub/build/src/pubsub');
// The package's export object is the Bigtable class itself, with the class again as `.Bigtable`.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import bigtableModule = require('@google-cloud/bigtable');
import { emptyBigtableCounts, METER_INTERVAL_MS, noBigtableRows, type BigtableCounts, type DocumentCount, type MeterFile } from './counts';

/** What grpc-js hands the transformer (client.ts CallProperties), as far as this reads it. */
interface CallProperties {
  readonly argument?: unknown;
  readonly methodDefinition: { readonly path: string };
  callback?: (err: unknown, value?: unknown) => void;
  readonly call: { push?: (chunk: unknown) => boolean };
}

const counts: MeterFile = {
  function: process.env.FUNCTION_TARGET ?? 'unknown',
  pid: process.pid,
  cpuUs: 0,
  firestore: { reads: 0, missingReads: 0, emptyQueries: 0, writes: 0, deletes: 0, commits: 0 },
  publish: {},
  documents: {},
  bigtable: emptyBigtableCounts(),
};
/** Whether anything changed since the last flush: the file is written only then. */
let dirty = true;

type Write = { update?: { name?: string }; delete?: string; transform?: { document?: string } };

/** `projects/P/databases/D/documents/a/b` → `a/b`. */
function documentPath(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const at = name.indexOf('/documents/');
  return at < 0 ? name : name.slice(at + '/documents/'.length);
}

function countDocument(path: string | undefined, deleted: boolean, second: number): void {
  if (path === undefined) return;
  const d: DocumentCount = (counts.documents[path] ??= { writes: 0, deletes: 0, peak: 0, second: 0, inSecond: 0 });
  if (deleted) {
    d.deletes++;
    return;
  }
  d.writes++;
  if (d.second === second) d.inSecond++;
  else {
    d.second = second;
    d.inSecond = 1;
  }
  if (d.inSecond > d.peak) d.peak = d.inSecond;
}
type PubsubMessage = { data?: Uint8Array | string; attributes?: Record<string, string> | null };

function onSuccess(props: CallProperties, count: () => void): void {
  const callback = props.callback;
  if (!callback) return;
  props.callback = (err, value) => {
    if (!err) count();
    dirty = true;
    callback(err, value);
  };
}

function onMessages(props: CallProperties, each: (message: Record<string, unknown>) => void, end?: () => void): void {
  const call = props.call;
  const push = call.push?.bind(call);
  if (!push) return;
  call.push = (chunk: unknown) => {
    dirty = true;
    if (chunk === null) end?.();
    else each(chunk as Record<string, unknown>);
    return push(chunk);
  };
}

type Bytes = Uint8Array | string | undefined | null;
type BigtableMutation = {
  setCell?: { familyName?: string; columnQualifier?: Bytes; value?: Bytes };
  deleteFromRow?: object;
  deleteFromColumn?: { familyName?: string; columnQualifier?: Bytes };
  deleteFromFamily?: { familyName?: string };
};
type BigtableEntry = { rowKey?: Bytes; mutations?: BigtableMutation[] };

const byteLength = (b: Bytes) => (b === undefined || b === null ? 0 : typeof b === 'string' ? Buffer.byteLength(b) : b.length);

/** `projects/P/instances/I/tables/T` → `T`. */
function tableOf(request: unknown): string {
  const name = (request as { tableName?: string } | undefined)?.tableName ?? '';
  return name.slice(name.lastIndexOf('/') + 1) || 'unknown';
}

function bigtableTable(table: string): BigtableCounts {
  return (counts.bigtable.tables[table] ??= noBigtableRows());
}

const keyOf = (b: Bytes) => (b === undefined || b === null ? '' : typeof b === 'string' ? b : Buffer.from(b).toString('latin1'));

/**
 * The rows alive in each table as this process changed them: row key → cell (family and
 * qualifier) → its value's bytes; `storedBytes` follows it (row keys plus each cell's family,
 * qualifier and value, the latest version only: what a table holds before compression, with a
 * GC policy of one version). A run's rows alive at its end, per event, are what the table gains per
 * event until the retention removes them.
 */
const liveRows = new Map<string, Map<string, Map<string, number>>>();

function applyToLiveRows(table: string, rowKey: Bytes, mutations: readonly BigtableMutation[]): void {
  const rows = liveRows.get(table) ?? new Map<string, Map<string, number>>();
  liveRows.set(table, rows);
  const key = keyOf(rowKey);
  const t = bigtableTable(table);
  const add = (n: number) => {
    counts.bigtable.storedBytes += n;
    t.storedBytes += n;
  };
  const drop = (cells: Map<string, number>, cell: string) => {
    add(-(cells.get(cell) ?? 0));
    cells.delete(cell);
  };
  for (const m of mutations) {
    let cells = rows.get(key);
    if (m.setCell) {
      if (!cells) {
        cells = new Map();
        rows.set(key, cells);
        add(byteLength(rowKey));
      }
      const family = m.setCell.familyName ?? '';
      const cell = `${family}\u0000${keyOf(m.setCell.columnQualifier)}`;
      const bytes = Buffer.byteLength(family) + byteLength(m.setCell.columnQualifier) + byteLength(m.setCell.value);
      add(bytes - (cells.get(cell) ?? 0));
      cells.set(cell, bytes);
    } else if (cells && m.deleteFromRow) {
      for (const cell of [...cells.keys()]) drop(cells, cell);
      rows.delete(key);
      add(-byteLength(rowKey));
    } else if (cells && m.deleteFromColumn) {
      drop(cells, `${m.deleteFromColumn.familyName ?? ''}\u0000${keyOf(m.deleteFromColumn.columnQualifier)}`);
    } else if (cells && m.deleteFromFamily) {
      const prefix = `${m.deleteFromFamily.familyName ?? ''}\u0000`;
      for (const cell of [...cells.keys()]) if (cell.startsWith(prefix)) drop(cells, cell);
    }
  }
}

/**
 * Counts a row the server changed: written when a mutation sets a cell (with the cells' bytes),
 * else deleted when one deletes the row; and keeps the live rows' bytes.
 */
function countMutatedRow(table: string, rowKey: Bytes, mutations: readonly BigtableMutation[]): void {
  if (mutations.length === 0) return;
  const t = bigtableTable(table);
  const sets = mutations.some((m) => m.setCell);
  for (const c of [counts.bigtable, t]) {
    if (!sets && mutations.some((m) => m.deleteFromRow)) c.rowsDeleted++;
    else {
      c.rowsWritten++;
      c.bytesWritten += byteLength(rowKey) + mutations.reduce((n, m) => n + byteLength(m.setCell?.familyName) + byteLength(m.setCell?.columnQualifier) + byteLength(m.setCell?.value), 0);
    }
  }
  applyToLiveRows(table, rowKey, mutations);
}

function countRead(table: string, what: 'rowsRead' | 'emptyReads'): void {
  counts.bigtable[what]++;
  bigtableTable(table)[what]++;
}

/** A unary call's answer, once it succeeded. */
function onAnswer(props: CallProperties, count: (value: unknown) => void): void {
  const callback = props.callback;
  if (!callback) return;
  props.callback = (err, value) => {
    if (!err) count(value);
    dirty = true;
    callback(err, value);
  };
}

/** The status code of a MutateRows entry; int64 index may come as a number, a string or a Long. */
const entryIndex = (index: unknown) => (typeof index === 'object' && index !== null && 'toNumber' in index ? (index as { toNumber(): number }).toNumber() : Number(index));

function transformBigtable(props: CallProperties): boolean {
  const path = props.methodDefinition.path;
  if (!path.startsWith('/google.bigtable.v2.Bigtable/')) return false;
  const table = tableOf(props.argument);
  const request = props.argument as Record<string, unknown> | undefined;
  switch (path.slice('/google.bigtable.v2.Bigtable/'.length)) {
    case 'MutateRows': {
      const entries = (request?.entries ?? []) as BigtableEntry[];
      onMessages(props, (m) => {
        for (const e of (m.entries ?? []) as Array<{ index?: unknown; status?: { code?: number } }>) {
          if ((e.status?.code ?? 0) !== 0) continue;
          const entry = entries[entryIndex(e.index ?? 0)];
          if (entry) countMutatedRow(table, entry.rowKey, entry.mutations ?? []);
        }
      });
      return true;
    }
    case 'MutateRow':
      onAnswer(props, () => countMutatedRow(table, request?.rowKey as Bytes, (request?.mutations ?? []) as BigtableMutation[]));
      return true;
    case 'CheckAndMutateRow':
      onAnswer(props, (value) => {
        countRead(table, 'rowsRead');
        const matched = Boolean((value as { predicateMatched?: boolean } | undefined)?.predicateMatched);
        countMutatedRow(table, request?.rowKey as Bytes, ((matched ? request?.trueMutations : request?.falseMutations) ?? []) as BigtableMutation[]);
      });
      return true;
    case 'ReadModifyWriteRow':
      onAnswer(props, () => {
        countRead(table, 'rowsRead');
        for (const c of [counts.bigtable, bigtableTable(table)]) c.rowsWritten++;
      });
      return true;
    case 'ReadRows': {
      let rows = 0;
      onMessages(
        props,
        (m) => {
          for (const chunk of (m.chunks ?? []) as Array<{ commitRow?: boolean }>) {
            if (!chunk.commitRow) continue;
            rows++;
            countRead(table, 'rowsRead');
          }
        },
        () => {
          if (rows === 0) countRead(table, 'emptyReads');
        },
      );
      return true;
    }
    default:
      return true;
  }
}

function transform(props: CallProperties): CallProperties {
  if (transformBigtable(props)) return props;
  const f = counts.firestore;
  switch (props.methodDefinition.path) {
    case '/google.firestore.v1.Firestore/Commit': {
      const writes = ((props.argument as { writes?: Write[] } | undefined)?.writes ?? []) as Write[];
      onSuccess(props, () => {
        f.commits++;
        const second = Math.floor(Date.now() / 1000);
        for (const w of writes) {
          if (w.delete) f.deletes++;
          else f.writes++;
          countDocument(documentPath(w.delete ?? w.update?.name ?? w.transform?.document), Boolean(w.delete), second);
        }
      });
      break;
    }
    case '/google.firestore.v1.Firestore/BatchGetDocuments':
      onMessages(props, (m) => {
        if (m.found) f.reads++;
        else if (m.missing) f.missingReads++;
      });
      break;
    case '/google.firestore.v1.Firestore/RunQuery': {
      let documents = 0;
      onMessages(
        props,
        (m) => {
          if (m.document) {
            documents++;
            f.reads++;
          }
        },
        () => {
          if (documents === 0) f.emptyQueries++;
        },
      );
      break;
    }
    case '/google.pubsub.v1.Publisher/Publish': {
      const request = props.argument as { topic?: string; messages?: PubsubMessage[] } | undefined;
      const topic = (request?.topic ?? '').replace(/^projects\/[^/]+\/topics\//, '');
      const messages = request?.messages ?? [];
      onSuccess(props, () => {
        const t = (counts.publish[topic] ??= { requests: [] });
        t.requests.push(messages.map((m) => {
          let bytes = typeof m.data === 'string' ? Buffer.byteLength(m.data, 'base64') : (m.data?.length ?? 0);
          for (const [k, v] of Object.entries(m.attributes ?? {})) bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
          return bytes;
        }));
      });
      break;
    }
    default:
      break;
  }
  return props;
}

const HOOK = { 'grpc.callInvocationTransformer': transform };

let lastCpuUs = 0;

function install(dir: string): void {
  const fs = firestoreModule as unknown as { Firestore: new (settings?: object) => object };
  const BaseFirestore = fs.Firestore;
  fs.Firestore = class MeteredFirestore extends BaseFirestore {
    constructor(settings?: object) {
      super({ ...settings, ...HOOK });
    }
  };
  const ps = pubsubModule as unknown as { PubSub: new (options?: object) => object };
  const BasePubSub = ps.PubSub;
  ps.PubSub = class MeteredPubSub extends BasePubSub {
    constructor(options?: object) {
      super({ ...options, ...HOOK });
    }
  };
  // The Bigtable client builds its gRPC options in its constructor and its gax clients from them
  // later: its data client already has a transformer (grpc-gcp's channel pool), which the hook
  // runs first; the admin clients get the hook alone.
  type BigtableClass = new (options?: object) => { options: Record<string, Record<string, unknown>> };
  const bt = bigtableModule as unknown as { Bigtable: BigtableClass };
  const BaseBigtable = bt.Bigtable;
  bt.Bigtable = class MeteredBigtable extends BaseBigtable {
    constructor(options?: object) {
      super(options);
      for (const clientOptions of Object.values(this.options)) {
        const inner = clientOptions['grpc.callInvocationTransformer'] as ((p: CallProperties) => CallProperties) | undefined;
        clientOptions['grpc.callInvocationTransformer'] = inner ? (p: CallProperties) => transform(inner(p)) : transform;
      }
    }
  };
  const file = join(dir, `${counts.function}-${process.pid}.json`);
  /** CPU time the writes below took: the meter's, not the function's. */
  let meterUs = 0;
  const flush = (force = false) => {
    const before = process.cpuUsage();
    counts.cpuUs = before.user + before.system - meterUs;
    // CPU time alone moves on every flush; the counts only when an operation completed. Rewriting
    // the (growing) document table on every tick would add its own CPU to the processes measured.
    if (!force && !dirty && counts.cpuUs - lastCpuUs < 10_000) return;
    dirty = false;
    lastCpuUs = counts.cpuUs;
    // Renamed into place: the cost run reads these files while the functions write them.
    writeFileSync(`${file}.tmp`, JSON.stringify(counts));
    renameSync(`${file}.tmp`, file);
    const after = process.cpuUsage(before);
    meterUs += after.user + after.system;
  };
  flush(true);
  setInterval(flush, METER_INTERVAL_MS).unref();
  process.on('exit', () => flush(true));
}

const meterDir = process.env.EVENT_RECOVERY_METER_DIR;
if (meterDir) install(meterDir);
