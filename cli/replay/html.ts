import type { Finding } from '../../shared/findings';
import { maskText } from '../../shared/mask';
import type { PageData, PageFinding, VolumeBand } from './page-data';

/**
 * The report page: one self-contained HTML file (inline CSS and SVG, no script, nothing fetched
 * at view time) that puts the run's pictures first: the verdict in numbers, findings over event
 * time by kind, the hourly volume of each series, revenue recorded vs corrected, then the
 * findings to read first.
 */
export interface PageInput {
  readonly title: string;
  readonly summary: PageSummary;
  readonly data: PageData;
  /** A line under the title: what was replayed, when. */
  readonly subtitle?: string;
  /** Where every finding is, named under the table (default: findings.ndjson, the replay's). */
  readonly allFindings?: string;
  /** What `lines` counts (default: lines of input; the local stack: messages published). */
  readonly linesNoun?: string;
}

/**
 * The numbers the page shows: a replay's summary.json has them all; the local stack's run leaves
 * out what it cannot know (a count left out has no card, rather than a made-up 0).
 */
export type PageSummary = { readonly [K in (typeof PAGE_COUNTS)[number]]?: number } & {
  readonly lines: number;
  readonly revenue_usd_cents: { readonly recorded: number; readonly corrected: number };
  readonly findings_by_kind: Readonly<Record<string, number>>;
  readonly checks: Readonly<Record<string, string>>;
  readonly warnings: readonly string[];
  readonly watermark: string | null;
};

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Beyond this many hours the charts count per day instead. */
const MAX_HOUR_BUCKETS = 400;

const KIND_COLORS: Record<string, string> = {
  invalid: '#7f7f7f',
  duplicate: '#1f77b4',
  gap: '#d62728',
  late: '#ff9896',
  chain_broken: '#9467bd',
  sequence_jump: '#c49c94',
  amount_mismatch: '#ff7f0e',
  fx_mismatch: '#e7ba52',
  payment_mismatch: '#8c564b',
  call_duration_mismatch: '#17becf',
  crm_mismatch: '#2ca02c',
  volume_anomaly: '#e377c2',
  dead_letter: '#393b79',
};
const colorOf = (kind: string) => KIND_COLORS[kind] ?? '#bcbd22';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const n = (x: number) => x.toLocaleString('en-US');
const usd = (cents: number) => `$${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** The time axis shared by every chart: contiguous buckets from the first to the last hour seen. */
interface Axis {
  readonly starts: number[];
  readonly bucketMs: number;
  index(ms: number): number;
}

function axisOf(data: PageData): Axis | undefined {
  let min = Infinity;
  let max = -Infinity;
  const see = (m: ReadonlyMap<number, number>) => {
    for (const k of m.keys()) {
      if (k < min) min = k;
      if (k > max) max = k;
    }
  };
  for (const m of data.volume.values()) see(m);
  for (const m of data.findings.values()) see(m);
  if (!Number.isFinite(min)) return undefined;
  const bucketMs = (max - min) / HOUR_MS + 1 > MAX_HOUR_BUCKETS ? DAY_MS : HOUR_MS;
  const first = Math.floor(min / bucketMs) * bucketMs;
  const starts: number[] = [];
  for (let t = first; t <= max; t += bucketMs) starts.push(t);
  return { starts, bucketMs, index: (ms) => Math.floor((ms - first) / bucketMs) };
}

function series(axis: Axis, values: ReadonlyMap<number, number> | undefined): number[] {
  const out = new Array<number>(axis.starts.length).fill(0);
  for (const [ms, v] of values ?? []) {
    const i = axis.index(ms);
    if (i >= 0 && i < out.length) out[i]! += v;
  }
  return out;
}

function tickLabel(axis: Axis, i: number): string {
  const iso = new Date(axis.starts[i]!).toISOString();
  return axis.bucketMs === DAY_MS ? iso.slice(5, 10) : iso.slice(11, 13) === '00' || i === 0 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

/**
 * Axis labels stand right-aligned in the chart's left padding (PAD.left): compact, so that the
 * widest ($999.9K, 999.9M) fits there, where $27,548.68 was cut to 7,548.68. Exact figures are
 * in the summary and in each bar's title.
 */
const usdAxis = (cents: number) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', notation: 'compact', maximumFractionDigits: 1 }).format(cents / 100);
const countAxis = (v: number) => new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(v);

const W = 920;
const PAD = { left: 56, right: 12, top: 10, bottom: 26 };

/** Tick positions: about eight labels whatever the number of buckets. */
function ticks(count: number): number[] {
  const step = Math.max(1, Math.ceil(count / 8));
  const out: number[] = [];
  for (let i = 0; i < count; i += step) out.push(i);
  return out;
}

function frame(axis: Axis, height: number, maxY: number, body: string, label: string, yFormat: (v: number) => string = countAxis): string {
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const bw = plotW / axis.starts.length;
  const xTicks = ticks(axis.starts.length)
    .map((i) => `<text x="${(PAD.left + (i + 0.5) * bw).toFixed(1)}" y="${height - 8}" text-anchor="middle">${escapeHtml(tickLabel(axis, i))}</text>`)
    .join('');
  const yTicks = [0, 0.5, 1]
    .map((f) => {
      const y = PAD.top + plotH * (1 - f);
      return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" class="grid"/><text x="${PAD.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${escapeHtml(yFormat(maxY * f))}</text>`;
    })
    .join('');
  return `<svg viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="${escapeHtml(label)}" class="chart">${yTicks}${body}${xTicks}</svg>`;
}

function stackedBars(axis: Axis, layers: ReadonlyArray<{ name: string; color: string; values: number[] }>, height: number, label: string): string {
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const totals = axis.starts.map((_, i) => layers.reduce((s, l) => s + l.values[i]!, 0));
  const maxY = Math.max(1, ...totals);
  const bw = plotW / axis.starts.length;
  let body = '';
  for (let i = 0; i < axis.starts.length; i++) {
    let y = PAD.top + plotH;
    for (const layer of layers) {
      const v = layer.values[i]!;
      if (v === 0) continue;
      const h = (v / maxY) * plotH;
      y -= h;
      body += `<rect x="${(PAD.left + i * bw + bw * 0.1).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, bw * 0.8).toFixed(1)}" height="${h.toFixed(1)}" fill="${layer.color}"><title>${escapeHtml(`${tickLabel(axis, i)} ${layer.name}: ${n(v)}`)}</title></rect>`;
    }
  }
  return frame(axis, height, maxY, body, label);
}

function volumeChart(axis: Axis, name: string, values: number[], bands: readonly VolumeBand[]): string {
  const height = 92;
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const maxY = Math.max(1, ...values, ...bands.map((b) => b.upper));
  const bw = plotW / axis.starts.length;
  const y = (v: number) => PAD.top + plotH * (1 - v / maxY);
  let body = '';
  for (const b of bands) {
    const i = axis.index(b.hourMs);
    if (i < 0 || i >= values.length) continue;
    body += `<rect class="band" x="${(PAD.left + i * bw).toFixed(1)}" y="${y(b.upper).toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(1, y(b.lower) - y(b.upper)).toFixed(1)}"><title>${escapeHtml(`expected ${n(b.expected)} (${n(b.lower)}-${n(b.upper)}), actual ${n(b.actual)}`)}</title></rect>`;
  }
  const flagged = new Set(bands.filter((b) => b.flagged).map((b) => axis.index(b.hourMs)));
  values.forEach((v, i) => {
    if (v === 0 && !flagged.has(i)) return;
    const top = y(v);
    body += `<rect x="${(PAD.left + i * bw + bw * 0.1).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, bw * 0.8).toFixed(1)}" height="${(PAD.top + plotH - top).toFixed(1)}" fill="${flagged.has(i) ? '#d62728' : '#4c78a8'}"><title>${escapeHtml(`${tickLabel(axis, i)}: ${n(v)} ${name}`)}</title></rect>`;
  });
  return frame(axis, height, maxY, body, `${name} per ${axis.bucketMs === DAY_MS ? 'day' : 'hour'}`);
}

function revenueChart(axis: Axis, recorded: number[], corrected: number[]): string {
  const height = 200;
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const cum = (xs: number[]) => xs.reduce<number[]>((acc, v) => [...acc, (acc[acc.length - 1] ?? 0) + v], []);
  const r = cum(recorded);
  const c = cum(corrected);
  const maxY = Math.max(1, ...r, ...c);
  const bw = plotW / axis.starts.length;
  const pts = (xs: number[]) => xs.map((v, i) => `${(PAD.left + (i + 0.5) * bw).toFixed(1)},${(PAD.top + plotH * (1 - v / maxY)).toFixed(1)}`).join(' ');
  const body =
    `<polyline points="${pts(r)}" fill="none" stroke="#4c78a8" stroke-width="2.5"><title>recorded</title></polyline>` +
    `<polyline points="${pts(c)}" fill="none" stroke="#f58518" stroke-width="2.5" stroke-dasharray="6 4"><title>corrected</title></polyline>`;
  return frame(axis, height, maxY, body, 'cumulative revenue, recorded and corrected', usdAxis);
}

function legend(items: ReadonlyArray<{ name: string; color: string; dashed?: boolean }>): string {
  return `<p class="legend">${items.map((i) => `<span><i style="background:${i.color}"${i.dashed ? ' class="dashed"' : ''}></i>${escapeHtml(i.name)}</span>`).join('')}</p>`;
}

/** What a finding says in a sentence, personal data masked. */
export function findingText(f: Finding): string {
  const parts: string[] = [];
  switch (f.kind) {
    case 'duplicate':
      parts.push(`duplicate of ${f.duplicate_of} (by ${f.basis.replace('_', ' ')})`);
      break;
    case 'gap':
      parts.push(`sequence ${f.from_sequence}${f.to_sequence === f.from_sequence ? '' : `-${f.to_sequence}`} missing`);
      break;
    case 'late':
      parts.push(f.closes ? `arrived after its ${f.closes === 'gap' ? 'gap' : 'chain'} was reported` : 'arrived late');
      break;
    case 'chain_broken':
      parts.push(`no ${f.expected_type} followed`);
      break;
    case 'volume_anomaly':
      parts.push(`${f.series} at ${f.hour}: ${n(f.actual)} events, expected ${n(f.expected)} (${n(f.lower_bound)}-${n(f.upper_bound)})`);
      break;
    case 'amount_mismatch':
    case 'fx_mismatch':
    case 'payment_mismatch':
    case 'call_duration_mismatch':
      // Nothing to compare with (a call the provider does not know), or a value the provider confirms (a call of 0 s): no "0 vs 0".
      if (f.expected === undefined) parts.push(`${f.field}: ${JSON.stringify(f.actual)} recorded`);
      else if (JSON.stringify(f.expected) === JSON.stringify(f.actual)) parts.push(`${f.field}: ${JSON.stringify(f.actual)} recorded, as the provider reports`);
      else parts.push(`${f.field}: ${JSON.stringify(f.actual)} recorded, ${JSON.stringify(f.expected)} expected`);
      break;
    case 'crm_mismatch':
      // `expected` is the event's value, `actual` the CRM's (DESIGN §3).
      if (f.field !== 'record') parts.push(`${f.field}: the CRM holds ${JSON.stringify(f.actual)}, the event ${JSON.stringify(f.expected)}`);
      break;
    default:
      break;
  }
  if (f.reason) parts.push(f.reason);
  return maskText(parts.join('; '));
}

function topTable(top: readonly PageFinding[]): string {
  if (top.length === 0) return '<p>No findings.</p>';
  const rows = top
    .map(({ finding: f, atMs }) => {
      const cells = [
        `<span class="kind" style="border-color:${colorOf(f.kind)}">${escapeHtml(f.kind)}</span>`,
        escapeHtml(f.action),
        escapeHtml(f.type ?? ''),
        f.line === undefined ? '' : n(f.line),
        atMs === undefined ? '' : escapeHtml(new Date(atMs).toISOString().slice(0, 16).replace('T', ' ')),
        `<code>${escapeHtml(maskText(f.event_id ?? ''))}</code>`,
        escapeHtml(findingText(f)),
      ];
      return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table><thead><tr><th>kind</th><th>action</th><th>type</th><th>line</th><th>time (UTC)</th><th>event</th><th>why</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

/** The numbers of summary.json the page shows, in order; the test reads them back by `data-summary`. */
export const PAGE_COUNTS = ['lines', 'accepted', 'invalid', 'duplicates', 'gaps', 'missing_events', 'chains_broken', 'late', 'corrections', 'review', 'pending'] as const;

export function renderReportPage(input: PageInput): string {
  const { summary: s, data } = input;
  const axis = axisOf(data);
  const findingsTotal = Object.values(s.findings_by_kind).reduce((a, b) => a + b, 0);
  const cards = PAGE_COUNTS.flatMap((key) => {
    const value = s[key];
    if (value === undefined) return [];
    return [`<div class="card${key === 'lines' || key === 'accepted' ? '' : value > 0 ? ' hot' : ''}" data-summary="${key}"><b>${n(value)}</b><span>${key === 'lines' ? escapeHtml(input.linesNoun ?? 'lines') : key.replace('_', ' ')}</span></div>`];
  }).join('');
  const kinds = Object.entries(s.findings_by_kind).sort((a, b) => b[1] - a[1]);
  const sections: string[] = [];
  if (axis) {
    const per = axis.bucketMs === DAY_MS ? 'day' : 'hour';
    const layers = kinds.map(([kind]) => ({ name: kind, color: colorOf(kind), values: series(axis, data.findings.get(kind)) }));
    sections.push(
      `<section id="findings-over-time"><h2>Findings over event time, by kind (per ${per})</h2>${legend(layers)}${stackedBars(axis, layers, 220, 'findings per kind over event time')}` +
        (data.untimed > 0 ? `<p class="note">${n(data.untimed)} findings before the first valid event are not drawn.</p>` : '') +
        '</section>',
    );
    const names = [...data.volume.keys()].sort();
    sections.push(
      `<section id="volume"><h2>Accepted events per ${per}, by series</h2>` +
        `<p class="note">Flagged hours in red, the expected range as a shaded band (from <code>volume_anomaly</code> findings).</p>` +
        names
          .map((name) => `<div class="series" data-series="${escapeHtml(name)}"><h3>${escapeHtml(name)} <small>${n([...data.volume.get(name)!.values()].reduce((a, b) => a + b, 0))}</small></h3>${volumeChart(axis, name, series(axis, data.volume.get(name)), data.bands.filter((b) => b.series === name))}</div>`)
          .join('') +
        '</section>',
    );
    sections.push(
      `<section id="revenue"><h2>Revenue (USD), recorded vs corrected</h2>` +
        `<p class="totals" data-summary="revenue"><span>recorded <b>${usd(s.revenue_usd_cents.recorded)}</b></span><span>corrected <b>${usd(s.revenue_usd_cents.corrected)}</b></span><span>difference <b>${usd(s.revenue_usd_cents.corrected - s.revenue_usd_cents.recorded)}</b></span></p>` +
        legend([
          { name: 'recorded (cumulative)', color: '#4c78a8' },
          { name: 'corrected (cumulative)', color: '#f58518', dashed: true },
        ]) +
        revenueChart(axis, series(axis, data.revenue.recorded), series(axis, data.revenue.corrected)) +
        '</section>',
    );
  }
  sections.push(`<section id="top-findings"><h2>Findings to read first</h2><p class="note">Held for review first, then corrections, then the rest; at most 8 of a kind. All of them: ${escapeHtml(input.allFindings ?? 'findings.ndjson')}.</p>${topTable(data.top)}</section>`);
  const checks = Object.entries(s.checks).map(([k, v]) => `<li><b>${escapeHtml(k)}</b>: ${escapeHtml(v)}</li>`).join('');
  const warnings = s.warnings.map((w) => `<li>${escapeHtml(maskText(w))}</li>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(input.title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:960px;padding:16px 20px 40px;color:#1d1d1f;background:#fff}
h1{font-size:22px;margin:4px 0}h2{font-size:16px;margin:28px 0 6px;border-bottom:1px solid #e5e5e5;padding-bottom:4px}h3{font-size:13px;margin:8px 0 0;font-weight:600}h3 small{color:#777;font-weight:400}
.sub{color:#666;margin:0 0 12px}.verdict{font-size:16px;padding:10px 12px;border-radius:6px;background:#f3f6fb;border-left:4px solid #4c78a8}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(120px,1fr));gap:8px;margin:12px 0}.card{border:1px solid #e3e3e3;border-radius:6px;padding:8px 10px}.card b{display:block;font-size:20px}.card span{color:#666;font-size:12px}.card.hot b{color:#b42318}
.chart{display:block;font-size:11px;fill:#555}.chart .grid{stroke:#eee}.band{fill:#d62728;fill-opacity:.15}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}.legend i.dashed{height:3px;vertical-align:3px}
.note{color:#666;font-size:12px;margin:2px 0}.totals span{margin-right:20px}
table{border-collapse:collapse;width:100%;font-size:12px}td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}td code{font-size:11px;word-break:break-all}.kind{border-left:4px solid;padding-left:5px;white-space:nowrap}
ul{margin:4px 0;padding-left:20px}
</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
${input.subtitle ? `<p class="sub">${escapeHtml(input.subtitle)}</p>` : ''}
<p class="verdict" data-summary="findings">${n(findingsTotal)} findings in ${n(s.lines)} ${escapeHtml(input.linesNoun ?? 'lines')}: ${kinds.map(([k, v]) => `${escapeHtml(k)} ${n(v)}`).join(', ') || 'none'}</p>
<div class="cards">${cards}</div>
${warnings ? `<h2>Warnings</h2><ul class="warnings">${warnings}</ul>` : ''}
${sections.join('\n')}
<h2>Checks</h2><ul>${checks}</ul>
<p class="note">Watermark (the latest event time seen): ${escapeHtml(s.watermark ?? 'none')}.</p>
</body>
</html>
`;
}
