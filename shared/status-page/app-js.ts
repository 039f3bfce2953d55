/**
 * The status page's one JS module (served as /app.js; a string so the bundle carries it, no
 * build step). It fetches api/status, draws one canvas grid per table (a row per UTC day of hours,
 * or per month of days; newest first; only the rows in view are drawn, so a year of hourly
 * partitions for 10 tables is a few thousand rectangles), and fetches a cell's details on click.
 * No template literals inside: this text lives in one.
 */
export const APP_JS = String.raw`
const COLORS = {
  ok: '#2da44e', loading: '#54aeff', missing: '#cf222e', stale: '#fb8f44', failed: '#82071e',
  quarantined: '#8250df', 'upstream-missing': '#d4a72c', waived: '#8c959f', orphan: '#bf3989',
  'source-deleted': '#1b7c83', none: '#eaeef2',
};
const PROBLEMS = ['missing', 'stale', 'failed', 'quarantined', 'upstream-missing', 'orphan', 'source-deleted', 'loading'];
const CODES = { o: 'ok', m: 'missing', s: 'stale', f: 'failed', q: 'quarantined', u: 'upstream-missing', w: 'waived', x: 'orphan', d: 'source-deleted', l: 'loading', n: 'none' };
const CELL = 14, GAP = 2, LABEL_W = 92, HOUR = 3600000, DAY = 86400000;
const $ = (id) => document.getElementById(id);
const filters = { problems: false, table: '', from: '', to: '' };
let report = null;
const grids = new Map();

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function decodeRuns(runs) {
  const out = [];
  for (const m of runs.matchAll(/([a-z])(\d+)/g)) for (let n = +m[2]; n > 0; n--) out.push(CODES[m[1]]);
  return out;
}
const idMs = (id) => Date.UTC(+id.slice(0, 4), +id.slice(4, 6) - 1, +id.slice(6, 8), id.length > 8 ? +id.slice(8, 10) : 0);
const msId = (ms, g) => new Date(ms).toISOString().slice(0, g === 'HOUR' ? 13 : 10).replace(/[-T]/g, '');
function dur(ms) {
  if (ms === null || ms === undefined) return '-';
  const s = Math.round(ms / 1000), m = Math.floor(s / 60), h = Math.floor(m / 60);
  return s < 60 ? s + 's' : m < 60 ? m + 'm' : h < 48 ? h + 'h ' + (m % 60) + 'm' : Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
}
const iso = (ms) => (ms === null || ms === undefined ? '-' : new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + 'Z');
function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
/** The wall-clock time a path names for a UTC partition id, in the table's source zone. */
function localTime(id, zone) {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'shortOffset' });
  const p = Object.fromEntries(f.formatToParts(new Date(idMs(id))).map((x) => [x.type, x.value]));
  return p.year + '-' + p.month + '-' + p.day + (id.length > 8 ? ' ' + p.hour + ':' + p.minute : '') + ' ' + p.timeZoneName + ' (' + zone + ')';
}

/** Rows of a table's grid, newest first: one per UTC day (hours) or month (days). */
function layout(t) {
  const cells = decodeRuns(t.runs);
  const step = t.granularity === 'HOUR' ? HOUR : DAY;
  if (!t.window) return { t, cells, start: 0, step, rows: [], cols: t.granularity === 'HOUR' ? 24 : 31 };
  const start = idMs(t.window.from);
  const from = filters.from ? Date.parse(filters.from + 'T00:00:00Z') : -Infinity;
  const to = filters.to ? Date.parse(filters.to + 'T00:00:00Z') + DAY : Infinity;
  const rowKey = (ms) => (t.granularity === 'HOUR' ? Math.floor(ms / DAY) * DAY : Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth(), 1));
  const rows = new Map();
  for (let i = 0; i < cells.length; i++) {
    const ms = start + i * step;
    if (ms < from || ms >= to) continue;
    const k = rowKey(ms);
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { start: k, problem: false }));
    if (PROBLEMS.includes(cells[i])) r.problem = true;
  }
  let list = [...rows.values()].sort((a, b) => b.start - a.start);
  if (filters.problems) list = list.filter((r) => r.problem);
  return { t, cells, start, step, rows: list, cols: t.granularity === 'HOUR' ? 24 : 31 };
}
function cellId(g, row, col) {
  if (g.t.granularity === 'HOUR') return msId(row.start + col * HOUR, 'HOUR');
  const d = new Date(row.start);
  const ms = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), col + 1);
  return new Date(ms).getUTCMonth() === d.getUTCMonth() ? msId(ms, 'DAY') : null;
}
/** The class of a cell, by arithmetic (partitions are whole UTC hours/days): no map of 87,600 ids. */
function classAt(g, id) {
  if (id === null) return null;
  const i = (idMs(id) - g.start) / g.step;
  return i >= 0 && i < g.cells.length ? g.cells[i] : null;
}
function draw(g) {
  const { canvas, box } = g;
  const visible = Math.min(g.rows.length, Math.ceil(box.clientHeight / CELL) + 1 || 24);
  const first = Math.min(Math.floor(box.scrollTop / CELL), Math.max(0, g.rows.length - visible));
  g.first = first;
  const ratio = window.devicePixelRatio || 1;
  const w = LABEL_W + g.cols * CELL, h = Math.max(1, visible) * CELL;
  canvas.width = w * ratio; canvas.height = h * ratio;
  canvas.style.width = w + 'px'; canvas.style.height = h + 'px';
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  for (let r = 0; r < visible && first + r < g.rows.length; r++) {
    const row = g.rows[first + r];
    ctx.fillStyle = '#59636e';
    ctx.fillText(new Date(row.start).toISOString().slice(0, g.t.granularity === 'HOUR' ? 10 : 7), 2, r * CELL + CELL / 2);
    for (let c = 0; c < g.cols; c++) {
      const cls = classAt(g, cellId(g, row, c));
      if (!cls) continue;
      ctx.fillStyle = COLORS[cls] || '#000';
      ctx.fillRect(LABEL_W + c * CELL, r * CELL, CELL - GAP, CELL - GAP);
    }
  }
  g.spacer.style.height = Math.max(0, g.rows.length * CELL - h) + 'px';
}
/** Column labels: UTC hours 00..23 (every 3rd) or days of the month. */
function drawHead(canvas, g) {
  const ratio = window.devicePixelRatio || 1, w = LABEL_W + g.cols * CELL, h = 14;
  canvas.width = w * ratio; canvas.height = h * ratio; canvas.style.width = w + 'px'; canvas.style.height = h + 'px';
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.font = '10px system-ui, sans-serif'; ctx.fillStyle = '#59636e'; ctx.textBaseline = 'middle';
  ctx.fillText(g.t.granularity === 'HOUR' ? 'UTC day / hour' : 'month / day', 2, h / 2);
  for (let c = 0; c < g.cols; c += 3) ctx.fillText(String(g.t.granularity === 'HOUR' ? c : c + 1).padStart(2, '0'), LABEL_W + c * CELL, h / 2);
}
function hit(g, ev) {
  const rect = g.canvas.getBoundingClientRect();
  const x = ev.clientX - rect.left - LABEL_W, y = ev.clientY - rect.top;
  if (x < 0) return null;
  const row = g.rows[g.first + Math.floor(y / CELL)], col = Math.floor(x / CELL);
  if (!row || col >= g.cols) return null;
  const id = cellId(g, row, col);
  const cls = classAt(g, id);
  return cls ? { id, cls } : null;
}

function statsOf(t) {
  const b = t.budget;
  const next = b.nextJobAt <= report.generatedAt ? 'now' : iso(b.nextJobAt);
  return el('div', { class: 'stats' },
    el('span', {}, 'freshness lag ', el('b', { 'data-k': 'lag' }, dur(t.freshness.lagMs)), t.freshness.newestOk ? ' (newest loaded ' + t.freshness.newestOk + ')' : ''),
    el('span', {}, 'last load ', el('b', {}, iso(t.freshness.lastLoadAt))),
    el('span', {}, 'watermark ', el('b', {}, iso(t.watermark))),
    el('span', { title: 'jobs used today of the daily budget' }, 'budget ', el('meter', { min: 0, max: b.limit, value: b.usedToday, high: b.limit * 0.8 }), ' ', el('b', { 'data-k': 'budget' }, b.usedToday + '/' + b.limit), ' next job ' + next + (b.waiting ? '; ' + b.waiting + ' backfill(s) waiting' + (b.drainMs ? ', ~' + dur(b.drainMs) + ' at this pace' : ', all can start now') : '')),
    el('span', {}, 'read today ', el('b', {}, bytes(t.bytesReadToday)), ' (cross-region when bucket and dataset differ)'),
    el('span', { 'data-k': 'counts' }, Object.keys(COLORS).filter((c) => c !== 'none' && t.counts[c]).map((c) => t.counts[c] + ' ' + c).join(', ') || 'nothing audited yet'));
}

function render() {
  const main = $('tables');
  main.replaceChildren();
  grids.clear();
  for (const t of report.tables) {
    if (filters.table && t.table !== filters.table) continue;
    const g = layout(t);
    if (filters.problems && g.rows.length === 0) continue;
    const canvas = el('canvas', { 'data-table': t.table, role: 'img', 'aria-label': 'partitions of ' + t.table });
    const spacer = el('div');
    const box = el('div', { class: 'grid' }, canvas, spacer);
    const head = el('canvas', { class: 'head', 'aria-hidden': 'true' });
    drawHead(head, g);
    Object.assign(g, { canvas, box, spacer, first: 0 });
    grids.set(t.table, g);
    main.append(el('section', { class: 'table', 'data-table': t.table },
      el('h2', {}, t.table, el('span', { class: 'muted' }, '  ' + t.granularity + ' partitions (UTC ids), paths in ' + t.timeZone + (t.window ? '; audited ' + iso(t.auditedAt) + ' over ' + t.window.from + '..' + t.window.to : '; never audited'))),
      statsOf(t), head, box));
    box.addEventListener('scroll', () => draw(g));
    canvas.addEventListener('mousemove', (ev) => {
      const h = hit(g, ev), tip = $('tip');
      if (!h) { tip.style.display = 'none'; return; }
      tip.textContent = t.table + '$' + h.id + '  ' + localTime(h.id, t.timeZone) + '  ' + h.cls;
      Object.assign(tip.style, { display: 'block', left: ev.clientX + 12 + 'px', top: ev.clientY + 12 + 'px' });
    });
    canvas.addEventListener('mouseleave', () => { $('tip').style.display = 'none'; });
    canvas.addEventListener('click', (ev) => { const h = hit(g, ev); if (h) showDetails(t, h.id, h.cls); });
    draw(g);
  }
  if (!main.children.length) main.append(el('p', { class: 'muted' }, 'Nothing to show with these filters.'));
  renderLists();
}

function listTable(rows, cols) {
  if (!rows.length) return el('p', { class: 'muted' }, 'none');
  return el('table', { class: 'list' }, el('tr', {}, cols.map((c) => el('th', {}, c[0]))), rows.map((r) => el('tr', {}, cols.map((c) => el('td', {}, c[1](r))))));
}
function renderLists() {
  $('quarantine').replaceChildren(listTable(report.quarantine, [['table', (q) => q.table], ['partition', (q) => q.partition], ['object', (q) => q.object], ['error', (q) => el('span', { class: 'err' }, q.error)], ['job', (q) => q.jobId]]));
  $('dead').replaceChildren(listTable(report.deadLetters, [['id', (d) => d.id], ['message', (d) => d.data], ['attempts', (d) => d.attempts ?? ''], ['error', (d) => d.error || ''], ['published', (d) => d.published]]));
  const unrouted = report.tables.flatMap((t) => t.unrouted.samples.map((s) => ({ table: t.table, object: s.object, reason: s.reason })));
  $('unrouted').replaceChildren(listTable(unrouted, [['table', (u) => u.table], ['object', (u) => u.object], ['reason', (u) => u.reason]]));
}

async function api(path, body) {
  const res = await fetch(path, body ? { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {});
  const json = await res.json();
  if (!res.ok) throw new Error(json.error || res.statusText);
  return json;
}

/** Dry run first: shows what would be published, then a button that publishes it. */
async function action(body, target) {
  target.replaceChildren(el('p', { class: 'muted' }, 'dry run…'));
  try {
    const dry = await api('api/backfill', Object.assign({}, body, { dryRun: true }));
    const publish = el('button', { class: 'primary', type: 'button', 'data-action': 'publish', onclick: async () => {
      publish.disabled = true;
      try {
        const done = await api('api/backfill', Object.assign({}, body, { dryRun: false }));
        target.replaceChildren(el('p', { 'data-k': 'published' }, 'Published ' + done.published + ' message(s) to ' + done.topic + '.'));
        await load();
      } catch (err) { target.replaceChildren(el('p', { class: 'err' }, String(err.message))); }
    } }, 'Publish ' + dry.messages.length + ' message(s)');
    target.replaceChildren(el('div', { class: 'preview', 'data-k': 'preview' },
      el('p', {}, 'Would publish ' + dry.messages.length + ' message(s) to ' + dry.topic + ':'),
      listTable(dry.messages.slice(0, 50), [['partition', (m) => m.table + '$' + m.partition], ['local path time', (m) => m.localTime], ['now', (m) => m.class], ['force', (m) => String(m.force)], ['reason', (m) => m.reason]]),
      dry.messages.length > 50 ? el('p', {}, '... and ' + (dry.messages.length - 50) + ' more') : '', publish));
  } catch (err) { target.replaceChildren(el('p', { class: 'err' }, String(err.message))); }
}

async function showDetails(t, id, cls) {
  const box = $('details');
  box.hidden = false;
  box.replaceChildren(el('p', {}, 'loading ' + t.table + '$' + id + '…'));
  let d;
  try { d = await api('api/partition?table=' + encodeURIComponent(t.table) + '&partition=' + id); } catch (err) { box.replaceChildren(el('p', { class: 'err' }, String(err.message))); return; }
  const s = d.state, last = s.loaded, result = el('div');
  box.replaceChildren(
    el('button', { type: 'button', style: 'float:right', onclick: () => { box.hidden = true; } }, 'Close'),
    el('h2', { 'data-k': 'title' }, t.table + '$' + id),
    el('p', {}, el('span', { 'data-k': 'local' }, localTime(id, d.timeZone)), ' · ', el('b', { 'data-k': 'class', style: 'color:' + (COLORS[cls] || '#000') }, cls)),
    el('p', { 'data-k': 'compare' }, d.source.objects.length + ' source file(s), ' + bytes(d.source.bytes) + ' → ' + (d.warehouseRows === null ? 'no rows' : d.warehouseRows + ' rows') + ' in the warehouse' + (last ? ' (last load wrote ' + (last.rows ?? '?') + ' rows from ' + last.objects + ' file(s), ' + bytes(last.bytes) + ')' : '')),
    el('h3', {}, 'Last job'),
    last ? el('p', { 'data-k': 'job' }, last.jobId, el('br'), iso(last.at) + ' · status ' + s.status) : el('p', { class: 'muted' }, 'never loaded (status ' + s.status + ')'),
    s.inflight ? el('p', {}, 'in flight: ' + s.inflight.jobId + ' (' + s.inflight.reason + ') since ' + iso(s.inflight.startedAt)) : '',
    s.lastError ? el('p', { class: 'err' }, 'last error' + (s.lastError.jobId ? ' (' + s.lastError.jobId + ')' : '') + ' ' + iso(s.lastError.at) + ': ' + s.lastError.message) : '',
    el('h3', {}, 'Source files'),
    listTable(d.source.objects, [['object', (o) => o.name], ['bytes', (o) => bytes(o.size)], ['generation', (o) => o.generation]]),
    el('h3', {}, 'Quarantined files'),
    listTable(s.quarantine, [['object', (q) => q.name], ['error', (q) => el('span', { class: 'err' }, q.error)], ['job', (q) => q.jobId]]),
    report.canAct ? el('p', {}, el('button', { type: 'button', 'data-action': 'reload', onclick: () => action({ table: t.table, partition: id, force: true }, result) }, 'Reload this partition…')) : el('p', { class: 'muted' }, 'read-only: ask to be listed in statusPage.operators to reload'),
    result);
}

async function load() {
  const params = filters.table ? '?table=' + encodeURIComponent(filters.table) : '';
  try {
    report = await api('api/status' + params);
  } catch (err) {
    $('meta').textContent = 'could not read the status: ' + err.message;
    return;
  }
  const who = report.mode === 'local' ? 'local run, actions allowed' : (report.caller || 'unidentified caller') + (report.canAct ? ', may act' : ', read-only');
  $('meta').textContent = 'as of ' + iso(report.generatedAt) + ' · ' + who;
  const sel = $('f-table'), bsel = $('b-table');
  if (sel.options.length === 1) for (const t of report.tables) { sel.append(el('option', { value: t.table }, t.table)); bsel.append(el('option', { value: t.table }, t.table)); }
  $('actions').hidden = !report.canAct;
  render();
  document.body.dataset.ready = String(Date.now());
}

$('legend').replaceChildren(...Object.entries(COLORS).map(([c, color]) => el('span', { style: '--c:' + color }, c)));
$('f-problems').addEventListener('change', (e) => { filters.problems = e.target.checked; render(); });
$('f-table').addEventListener('change', (e) => { filters.table = e.target.value; render(); });
$('f-from').addEventListener('change', (e) => { filters.from = e.target.value; render(); });
$('f-to').addEventListener('change', (e) => { filters.to = e.target.value; render(); });
$('f-refresh').addEventListener('click', () => load());
$('b-dry').addEventListener('click', () => action({ table: $('b-table').value, from: $('b-from').value, to: $('b-to').value, force: $('b-force').checked }, $('b-result')));
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') $('details').hidden = true; });

/** For tests and the curious: where a cell is drawn (page coordinates), after scrolling it into view. */
window.tidemarkStatus = {
  colors: COLORS,
  cellCenter(table, id) {
    const g = grids.get(table);
    if (!g) return null;
    for (let r = 0; r < g.rows.length; r++) {
      for (let c = 0; c < g.cols; c++) {
        if (cellId(g, g.rows[r], c) !== id) continue;
        g.box.scrollTop = r * CELL; draw(g);
        g.box.scrollIntoView({ block: 'nearest' });
        const rect = g.canvas.getBoundingClientRect();
        return { x: rect.left + LABEL_W + c * CELL + (CELL - GAP) / 2, y: rect.top + (r - g.first) * CELL + (CELL - GAP) / 2 };
      }
    }
    return null;
  },
};
load();
`;
