// The llmtrail dashboard. Everything shown comes from the API under /api/v1/ with the
// session cookie, so each role sees exactly what the API gives it.
//
// Rule of this file: text from events (prompts, outputs, tool arguments, user names, user
// agents, ...) is attacker-controlled. It is only ever put into the page with textContent or
// text nodes (see el()), never as HTML, and never used as a URL except inside this page's own
// "#/..." routes after encodeURIComponent.
'use strict';

const state = { me: null, reason: sessionStorage.getItem('llmtrail.reason') || '' };

// ---------- DOM helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  append(e, children);
  return e;
}

function append(parent, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

// A link to one of this page's own routes; every part is URI-encoded.
function route(...parts) {
  return '#/' + parts.map((p) => encodeURIComponent(String(p))).join('/');
}

function link(text, ...parts) {
  return el('a', { href: route(...parts) }, text);
}

// A link to the search page with these filters.
function searchLink(text, filters) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) p.set(k, String(v));
  return el('a', { href: '#/search?' + p.toString() }, text);
}

function sevBadge(sev) {
  if (!sev) return null;
  const known = ['critical', 'high', 'medium', 'low'].includes(sev) ? sev : 'low';
  return el('span', { class: 'badge sev-' + known }, sev);
}

function badge(text) {
  return el('span', { class: 'badge' }, text);
}

function fmtTime(t) {
  if (t === undefined || t === null || t === '') return '';
  const d = typeof t === 'number' ? new Date(t / 1e6) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function fmtNum(n) {
  if (n === undefined || n === null) return '';
  if (typeof n !== 'number') return String(n);
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(1);
}

function table(headers, rows, empty) {
  if (!rows.length) return el('p', { class: 'muted' }, empty || 'Nothing yet.');
  const head = el('tr', {}, headers.map((h) => el('th', { class: h.num ? 'num' : null }, h.label)));
  const body = rows.map((r) => el('tr', {}, r.map((c, i) => {
    const cls = headers[i].num ? 'num' : (headers[i].text ? 'text' : null);
    return el('td', { class: cls }, c);
  })));
  return el('table', {}, el('thead', {}, head), el('tbody', {}, body));
}

function card(label, value) {
  return el('div', { class: 'card' }, el('div', { class: 'k' }, label), el('div', { class: 'v' }, value));
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, opts) {
  const o = opts || {};
  const headers = { accept: 'application/json' };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.method && o.method !== 'GET') headers['x-llmtrail-csrf'] = '1';
  if (o.content && state.reason) headers['x-llmtrail-reason'] = state.reason;
  const resp = await fetch(path, {
    method: o.method || 'GET',
    headers,
    credentials: 'same-origin',
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  });
  const type = resp.headers.get('content-type') || '';
  const data = type.includes('json') ? await resp.json().catch(() => null) : await resp.text();
  if (!resp.ok) {
    const err = (data && data.error) || {};
    if (resp.status === 401 && !o.login) showLogin();
    throw new ApiError(resp.status, err.code || String(resp.status), err.message || resp.statusText);
  }
  return data;
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

// ---------- layout ----------

const page = () => document.getElementById('page');

function setPage(title, ...children) {
  const p = page();
  p.replaceChildren(el('h1', {}, title), ...children.flat());
  document.title = title + ' · llmtrail';
}

function showError(where, e) {
  const msg = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
  const p = el('p', { class: 'error', role: 'alert' }, msg);
  if (e instanceof ApiError && e.code === 'reason_required') {
    p.append(' — state a reason in the bar above to read raw content.');
    document.getElementById('reason-bar').hidden = false;
  }
  where.replaceChildren(p);
}

function showLogin() {
  state.me = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  document.getElementById('reason-bar').hidden = true;
  document.getElementById('login').hidden = false;
  page().replaceChildren();
  document.getElementById('token').focus();
}

async function whoami() {
  try {
    state.me = await api('/api/v1/token');
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    return false;
  }
  document.getElementById('login').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('who').hidden = false;
  document.getElementById('who-name').textContent = state.me.name;
  document.getElementById('who-role').textContent = state.me.role;
  const rawRole = state.me.role === 'forensic' || state.me.role === 'admin';
  document.getElementById('reason-bar').hidden = !rawRole;
  document.getElementById('reason-current').textContent = state.reason ? 'current: ' + state.reason : '';
  document.getElementById('reason-input').value = state.reason;
  return true;
}

// ---------- charts ----------

function barChart(points, key, cls, label) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', '0 0 600 120');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const values = points.map((p) => Number(p[key]) || 0);
  const max = Math.max(1e-9, ...values);
  const w = 600 / Math.max(1, values.length);
  values.forEach((v, i) => {
    const h = (v / max) * 110;
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', String(i * w + 1));
    r.setAttribute('y', String(118 - h));
    r.setAttribute('width', String(Math.max(1, w - 2)));
    r.setAttribute('height', String(Math.max(0, h)));
    if (cls) r.setAttribute('class', cls);
    const t = document.createElementNS(ns, 'title');
    t.textContent = `${fmtTime(points[i].t_ns)}: ${fmtNum(v)}`;
    r.appendChild(t);
    svg.appendChild(r);
  });
  return el('div', { class: 'card' }, el('div', { class: 'k' }, label), svg);
}

// ---------- content with highlights ----------

// Byte offsets (UTF-8) into `text` -> string indexes (UTF-16).
function byteToIndex(text) {
  const map = new Map();
  let bytes = 0;
  let i = 0;
  for (const ch of text) {
    map.set(bytes, i);
    const cp = ch.codePointAt(0);
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += ch.length;
  }
  map.set(bytes, i);
  return map;
}

function samePath(a, b) {
  return a.length === b.length && a.every((x, i) => String(x) === String(b[i]));
}

// A content block: the text as text nodes, with <mark> around each finding's span.
function contentBlock(value, path, highlights) {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  const pre = el('pre', { class: 'content' });
  const mine = typeof value === 'string'
    ? (highlights || []).filter((h) => samePath(h.path, path))
    : [];
  if (!mine.length) {
    pre.textContent = text;
    return pre;
  }
  const idx = byteToIndex(text);
  const spans = mine
    .map((h) => ({ s: idx.get(h.start), e: idx.get(h.end), h }))
    .filter((x) => x.s !== undefined && x.e !== undefined && x.s < x.e)
    .sort((a, b) => a.s - b.s || b.e - a.e);
  let at = 0;
  for (const sp of spans) {
    if (sp.s < at) continue; // overlapping: the first (longest) wins
    if (sp.s > at) pre.appendChild(document.createTextNode(text.slice(at, sp.s)));
    const m = el('mark', {
      class: 'hl sev-' + sp.h.severity,
      title: `${sp.h.category} / ${sp.h.type} (${sp.h.severity})`,
      'data-category': sp.h.category,
    }, text.slice(sp.s, sp.e));
    pre.appendChild(m);
    at = sp.e;
  }
  if (at < text.length) pre.appendChild(document.createTextNode(text.slice(at)));
  return pre;
}

function partBlocks(parts, basePath, highlights) {
  return (parts || []).map((part, p) => {
    const path = basePath.concat([p]);
    if (part.type === 'text' || part.type === 'reasoning') {
      return contentBlock(part.content, path.concat(['content']), highlights);
    }
    if (part.type === 'tool_call') {
      return el('div', {}, el('div', { class: 'label' }, 'tool call: ', part.name || ''),
        contentBlock(part.arguments === undefined ? null : part.arguments, path.concat(['arguments']), highlights));
    }
    if (part.type === 'tool_call_response') {
      return el('div', {}, el('div', { class: 'label' }, 'tool result'),
        contentBlock(part.response, path.concat(['response']), highlights));
    }
    return contentBlock(part, path, []);
  });
}

function messagesBlock(field, messages, highlights) {
  return (messages || []).map((m, i) => el('div', {},
    el('div', { class: 'label' }, m.role || 'message', m.name ? ` (${m.name})` : ''),
    partBlocks(m.parts, ['body', field, i, 'parts'], highlights)));
}

// The content of one rendered event, by kind.
function contentOf(r) {
  const ev = r.event;
  const b = ev.body || {};
  const h = r.highlights || [];
  const out = [];
  if (r.view === 'metadata') {
    out.push(el('p', { class: 'muted' }, 'Content is not shown to the ', state.me ? state.me.role : '', ' role.'));
  }
  if (b['llmtrail.withheld']) out.push(el('p', { class: 'muted' }, 'Withheld: ', b['llmtrail.withheld']));
  if (ev.kind === 'llm.request') {
    if (b['gen_ai.system_instructions']) {
      out.push(el('div', { class: 'label' }, 'system instructions'));
      b['gen_ai.system_instructions'].forEach((p, i) => {
        out.push(contentBlock(p.content === undefined ? p : p.content, ['body', 'gen_ai.system_instructions', i, 'content'], h));
      });
    }
    out.push(messagesBlock('gen_ai.input.messages', b['gen_ai.input.messages'], h));
  } else if (ev.kind === 'llm.response') {
    out.push(messagesBlock('gen_ai.output.messages', b['gen_ai.output.messages'], h));
    if (b.error_message) out.push(el('div', { class: 'label' }, 'error'), contentBlock(b.error_message, ['body', 'error_message'], []));
  } else if (ev.kind === 'tool.call') {
    if (b['gen_ai.tool.call.arguments'] !== undefined) {
      out.push(el('div', { class: 'label' }, 'arguments'), contentBlock(b['gen_ai.tool.call.arguments'], ['body', 'gen_ai.tool.call.arguments'], h));
    }
    if (b['gen_ai.tool.call.result'] !== undefined) {
      out.push(el('div', { class: 'label' }, 'result'), contentBlock(b['gen_ai.tool.call.result'], ['body', 'gen_ai.tool.call.result'], h));
    }
  } else if (ev.kind === 'finding') {
    out.push(findingLine(ev));
  } else if (ev.kind === 'alert') {
    out.push(el('p', {}, sevBadge(b.severity), badge(b.state), b.title, b.reason ? ' — ' + b.reason : ''));
  } else if (ev.kind === 'audit') {
    out.push(el('p', {}, badge(b.action), badge(b.outcome), b.reason || ''));
  }
  return out;
}

function findingLine(ev) {
  const f = ev.body || {};
  const loc = f.location || {};
  return el('div', { class: 'finding' },
    sevBadge(f.severity), badge(f.category), el('strong', {}, f.type || ''), ' ',
    el('span', { class: 'muted' }, `${f.detector || ''}/${f.rule_id || ''}`), ' ',
    f.owasp ? badge(f.owasp) : null, f.atlas ? badge(f.atlas) : null,
    loc.field ? el('span', { class: 'muted' }, ` at ${loc.field}${loc.message !== undefined ? '[' + loc.message + ']' : ''}${loc.role ? ' (' + loc.role + ')' : ''} bytes ${loc.start}–${loc.end}`) : null,
    f.preview ? el('div', {}, el('code', {}, f.preview)) : null);
}

function summary(ev) {
  const b = ev.body || {};
  switch (ev.kind) {
    case 'llm.request': return [b['gen_ai.provider.name'], b['gen_ai.request.model']].filter(Boolean).join(' / ');
    case 'llm.response': return [b.status, b.latency_ms !== undefined ? b.latency_ms + ' ms' : null].filter(Boolean).join(', ');
    case 'tool.call': return [b['gen_ai.tool.name'], b.status, b.decision].filter(Boolean).join(', ');
    case 'finding': return [b.severity, b.category, b.type].filter(Boolean).join(' / ');
    case 'alert': return [b.severity, b.state, b.title].filter(Boolean).join(' / ');
    case 'audit': return [b.action, b.outcome].filter(Boolean).join(', ');
    default: return '';
  }
}

function metaList(r) {
  const ev = r.event;
  const a = ev.actor || {};
  const t = ev.trace || {};
  const rows = [
    ['id', ev.id], ['kind', ev.kind], ['time', fmtTime(ev.time)],
    ['user', a.user ? link(a.user, 'user', a.user) : null], ['role', a.role], ['department', a.department],
    ['session', a.session ? link(a.session, 'trace', a.session) : null], ['agent', a.agent],
    ['source ip', a.source_ip], ['user agent', a.user_agent], ['api key id', a.api_key_id],
    ['trace', t.trace_id ? link(t.trace_id, 'trace', t.trace_id) : null],
    ['summary', summary(ev)], ['ledger index', r.index], ['leaf hash', r.leaf_hash], ['view', r.view],
  ];
  return el('dl', { class: 'meta' }, rows.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

// ---------- pages ----------

function windowSince(range) {
  const hours = { '1h': 1, '24h': 24, '7d': 168, '30d': 720 }[range] || 24;
  return { since: new Date(Date.now() - hours * 3600e3).toISOString(), bucket: hours <= 24 ? 3600 : 86400 };
}

async function overview(params) {
  const range = params.get('range') || '24h';
  const { since, bucket } = windowSince(range);
  const picker = el('select', { id: 'range', onchange: (e) => { location.hash = '#/overview?range=' + encodeURIComponent(e.target.value); } },
    ['1h', '24h', '7d', '30d'].map((r) => el('option', { value: r, selected: r === range ? 'selected' : null }, 'last ' + r)));
  const body = el('div', {}, el('p', { class: 'muted' }, 'Loading…'));
  setPage('Overview', el('p', {}, picker), body);
  const f = { since };
  const [ts, users, prompts, tools, flagged, alerts] = await Promise.all([
    api('/api/v1/stats/timeseries' + qs({ ...f, bucket })),
    api('/api/v1/stats/users' + qs({ ...f, limit: 500 })),
    api('/api/v1/stats/top-prompts' + qs({ ...f, limit: 10 })),
    api('/api/v1/stats/tools' + qs({ ...f, limit: 10 })),
    api('/api/v1/stats/flagged' + qs({ ...f, limit: 10 })),
    openAlerts(since),
  ]);
  const points = ts.items || [];
  // Share of the prompts, outputs and tool calls that carry at least one finding.
  for (const p of points) p.flagged_share = p.content_events ? (p.flagged || 0) / p.content_events : 0;
  const sum = (k) => points.reduce((a, p) => a + (Number(p[k]) || 0), 0);
  const requests = sum('requests');
  const flaggedEvents = sum('flagged');
  const contentEvents = sum('content_events');
  body.replaceChildren(
    el('div', { class: 'cards', id: 'totals' },
      card('requests', fmtNum(requests)),
      card('users', fmtNum((users.items || []).length)),
      card('tokens', fmtNum(sum('tokens'))),
      card('findings', fmtNum(sum('findings'))),
      card('flagged share', contentEvents ? (100 * flaggedEvents / contentEvents).toFixed(1) + '%' : '–'),
      card('open alerts', fmtNum(alerts.length))),
    el('div', { class: 'grid' },
      barChart(points, 'requests', null, 'requests per ' + (bucket === 3600 ? 'hour' : 'day')),
      barChart(points, 'users', null, 'active users'),
      barChart(points, 'tokens', null, 'tokens'),
      barChart(points, 'flagged_share', 'flag', 'flagged share (prompts, outputs, tool calls)'),
      barChart(points, 'latency_ms_avg', null, 'mean latency (ms)')),
    el('div', { class: 'grid' },
      el('div', { id: 'top-prompts' }, el('h2', {}, 'Top prompts'),
        table([{ label: 'prompt', text: true }, { label: 'count', num: true }, { label: 'users', num: true }, { label: 'last' }],
          (prompts.items || []).map((p) => [
            p.sample === undefined ? el('span', { class: 'muted' }, '(content hidden for this role)')
              : (p.sample_id ? link(p.sample || '', 'event', p.sample_id) : p.sample),
            fmtNum(p.count), fmtNum(p.users), fmtTime(p.last_ns)]))),
      el('div', { id: 'tools' }, el('h2', {}, 'Most-used tools'),
        table([{ label: 'tool' }, { label: 'calls', num: true }, { label: 'users', num: true }, { label: 'failures', num: true }, { label: 'blocked', num: true }],
          (tools.items || []).map((t) => [searchLink(t.tool || '(none)', { tool: t.tool || '' }), fmtNum(t.calls), fmtNum(t.users), fmtNum(t.failures), fmtNum(t.blocked)]))),
      el('div', { id: 'flagged' }, el('h2', {}, 'Latest flagged'),
        table([{ label: 'time' }, { label: 'kind' }, { label: 'user' }, { label: 'findings' }],
          (flagged.items || []).map((x) => [link(fmtTime(x.time_ns), 'event', x.event_id), x.kind,
            x.user ? link(x.user, 'user', x.user) : '', [sevBadge(x.max_severity), (x.categories || []).map(badge), ` ${x.findings}`]]))),
      el('div', { id: 'open-alerts' }, el('h2', {}, 'Open alerts'), alertTable(alerts.slice(0, 10))),
      el('div', { id: 'users' }, el('h2', {}, 'Users'),
        table([{ label: 'user' }, { label: 'requests', num: true }, { label: 'tokens', num: true }, { label: 'tool calls', num: true }, { label: 'findings', num: true }, { label: 'last seen' }],
          (users.items || []).slice(0, 15).map((u) => [link(u.user, 'user', u.user), fmtNum(u.requests), fmtNum(u.tokens), fmtNum(u.tool_calls), fmtNum(u.findings), fmtTime(u.last_ns)])))));
}

// Alerts come from the alert engine (`/api/v1/alerts`); when it is disabled, from the `alert`
// events themselves (the latest event of an alert_id is its state).
async function openAlerts(since, all) {
  try {
    const r = await api('/api/v1/alerts' + qs({ state: all ? '' : 'open', limit: 200 }));
    return (r.alerts || []).map((a) => ({ ...a, time: a.created }));
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 'alerts_disabled') throw e;
  }
  const r = await api('/api/v1/events' + qs({ kind: 'alert', since, limit: 500 }));
  const latest = new Map();
  for (const x of r.events || []) {
    const b = x.event.body || {};
    if (!latest.has(b.alert_id)) latest.set(b.alert_id, { ...b, time: x.event.time, event_id: x.event.id });
  }
  return [...latest.values()].filter((a) => all || a.state === 'open');
}

function mayDecide() {
  return state.me && (state.me.role === 'analyst' || state.me.role === 'admin');
}

// Acknowledge or close an alert: recorded as an `alert` event with who and why.
function alertActions(a, done) {
  if (!mayDecide() || a.state === 'closed' || !a.alert_id || a.event_id) return null;
  const reason = el('input', { class: 'alert-reason', placeholder: 'reason', maxlength: 500 });
  const act = (to) => async () => {
    try {
      await api('/api/v1/alerts/' + encodeURIComponent(a.alert_id), { method: 'POST', body: { state: to, reason: reason.value.trim() || null } });
      done();
    } catch (e) {
      reason.replaceWith(el('span', { class: 'error' }, e.message || String(e)));
    }
  };
  return el('span', { class: 'alert-actions' }, reason,
    a.state === 'open' ? el('button', { type: 'button', class: 'ack', onclick: act('acknowledged') }, 'Acknowledge') : null,
    el('button', { type: 'button', class: 'close', onclick: act('closed') }, 'Close'));
}

function alertTable(alerts, done) {
  return table([{ label: 'time' }, { label: 'severity' }, { label: 'state' }, { label: 'title', text: true }, { label: 'rule' }, { label: 'user' }, { label: '' }],
    alerts.map((a) => [
      a.event_id ? link(fmtTime(a.time), 'event', a.event_id) : fmtTime(a.time),
      sevBadge(a.severity), a.state, a.title, a.rule_id,
      a.actor && a.actor.user ? link(a.actor.user, 'user', a.actor.user) : '',
      done ? alertActions(a, done) : null,
    ]), 'No open alerts.');
}

async function alertsPage(params) {
  const which = params.get('state') || 'open';
  const picker = el('select', { id: 'alert-state', onchange: (e) => { location.hash = '#/alerts?state=' + encodeURIComponent(e.target.value); } },
    ['open', 'acknowledged', 'closed', 'all'].map((v) => el('option', { value: v, selected: v === which ? 'selected' : null }, v)));
  const body = el('div', { id: 'alerts' }, el('p', { class: 'muted' }, 'Loading…'));
  setPage('Alerts', el('p', {}, picker), body);
  const alerts = (await openAlerts(windowSince('30d').since, true))
    .filter((a) => which === 'all' || a.state === which);
  body.replaceChildren(alertTable(alerts, () => render()));
}

const FILTERS = ['q', 'kind', 'user', 'role', 'department', 'session', 'model', 'provider', 'tool', 'category', 'severity', 'status', 'since', 'until'];
const CHOICES = {
  kind: ['', 'llm.request', 'llm.response', 'tool.call', 'finding', 'alert', 'audit'],
  category: ['', 'prompt_injection', 'jailbreak', 'pii', 'secret', 'exfiltration', 'unsafe_output', 'system_prompt_leak', 'invisible_text', 'tool_risk'],
  severity: ['', 'low', 'medium', 'high', 'critical'],
};

async function search(params) {
  const form = el('form', { class: 'filters', id: 'search-form' },
    FILTERS.map((k) => {
      const v = params.get(k) || '';
      const input = CHOICES[k]
        ? el('select', { name: k }, CHOICES[k].map((c) => el('option', { value: c, selected: c === v ? 'selected' : null }, c || 'any')))
        : el('input', { name: k, value: v, placeholder: k === 'since' || k === 'until' ? '2026-12-01T00:00:00Z' : '' });
      return el('label', { class: k === 'q' ? 'wide' : null }, k === 'q' ? 'full text' : k, input);
    }),
    el('div', {}, el('button', { type: 'submit', id: 'search-submit' }, 'Search')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, String(v));
    if (![...p.keys()].length) p.set('all', '1');
    location.hash = '#/search?' + p.toString();
  });
  const results = el('div', { id: 'results' });
  setPage('Search', form, results);
  const filter = {};
  for (const k of FILTERS) if (params.get(k)) filter[k] = params.get(k);
  if (!Object.keys(filter).length && !params.has('all')) {
    results.append(el('p', { class: 'muted' }, 'Set a filter, or search with none to list the latest events.'));
    if (![...params.keys()].length) return;
  }
  await loadResults(results, filter, null);
}

async function loadResults(results, filter, cursor) {
  const r = await api('/api/v1/events' + qs({ ...filter, limit: 50, cursor }), { content: true });
  const rows = (r.events || []).map((x) => {
    const ev = x.event;
    const a = ev.actor || {};
    return [link(fmtTime(ev.time), 'event', ev.id), ev.kind, a.user ? link(a.user, 'user', a.user) : '',
      a.session ? link(a.session, 'trace', a.session) : '', summary(ev), preview(x)];
  });
  const t = table([{ label: 'time' }, { label: 'kind' }, { label: 'user' }, { label: 'session' }, { label: 'summary' }, { label: 'content', text: true }], rows, 'No matching events.');
  const old = results.querySelector('button.more');
  if (old) old.remove();
  if (cursor && t.tagName === 'TABLE') {
    const tbody = results.querySelector('tbody');
    if (tbody) append(tbody, [...t.querySelectorAll('tbody tr')]);
  } else {
    results.replaceChildren(t);
  }
  if (r.next_cursor) {
    results.append(el('button', { class: 'more', type: 'button', onclick: () => loadResults(results, filter, r.next_cursor).catch((e) => showError(results, e)) }, 'More'));
  }
}

// A short plain-text preview of an event's content.
function preview(x) {
  const b = x.event.body || {};
  let text = '';
  const msgs = b['gen_ai.input.messages'] || b['gen_ai.output.messages'];
  if (msgs && msgs.length) {
    const m = msgs[msgs.length - 1];
    text = (m.parts || []).map((p) => p.content || (p.arguments ? JSON.stringify(p.arguments) : '') || '').join(' ');
  } else if (b['gen_ai.tool.call.arguments'] !== undefined) {
    text = JSON.stringify(b['gen_ai.tool.call.arguments']);
  } else if (b.preview) {
    text = b.preview;
  }
  return text.length > 160 ? text.slice(0, 160) + '…' : text;
}

async function eventPage(id) {
  const body = el('div', {}, el('p', { class: 'muted' }, 'Loading…'));
  setPage('Event', body);
  const r = await api('/api/v1/events/' + encodeURIComponent(id), { content: true });
  const rel = await api('/api/v1/events/' + encodeURIComponent(id) + '/related', { content: true });
  const related = rel.events || [];
  const findings = related.filter((x) => x.event.kind === 'finding' && (x.event.body || {}).event_id === id);
  const ev = r.event;
  const traceKey = (ev.trace || {}).trace_id || (ev.actor || {}).session;
  const columns = [el('div', { class: 'card event', 'data-kind': ev.kind }, el('h3', {}, ev.kind), contentOf(r))];
  for (const x of related.filter((y) => ['llm.response', 'tool.call'].includes(y.event.kind))) {
    columns.push(el('div', { class: 'card event', 'data-kind': x.event.kind },
      el('h3', {}, link(x.event.kind, 'event', x.event.id), ' ', el('span', { class: 'muted' }, summary(x.event))), contentOf(x)));
  }
  body.replaceChildren(
    el('div', { class: 'card' }, metaList(r)),
    traceKey ? el('p', {}, link('Open the whole trail', 'trace', traceKey)) : null,
    el('h2', {}, 'Prompt, output and tool calls'),
    el('div', { class: 'side', id: 'side-by-side' }, columns),
    el('h2', {}, 'Findings'),
    el('div', { id: 'findings' }, findings.length ? findings.map((x) => el('div', { class: 'card' }, findingLine(x.event))) : el('p', { class: 'muted' }, 'No findings.')),
    el('h2', {}, 'Related events'),
    table([{ label: 'time' }, { label: 'kind' }, { label: 'summary' }],
      related.map((x) => [link(fmtTime(x.event.time), 'event', x.event.id), x.event.kind, summary(x.event)]), 'None.'));
}

async function tracePage(key) {
  const body = el('div', {}, el('p', { class: 'muted' }, 'Loading…'));
  setPage('Trail', el('p', { class: 'muted' }, 'trace or session ', el('code', {}, key)), body);
  const r = await api('/api/v1/traces/' + encodeURIComponent(key), { content: true });
  const events = r.events || [];
  const findingsOf = new Map();
  for (const x of events) {
    if (x.event.kind === 'finding') {
      const to = (x.event.body || {}).event_id;
      if (!findingsOf.has(to)) findingsOf.set(to, []);
      findingsOf.get(to).push(x.event);
    }
  }
  body.replaceChildren(el('div', { id: 'trail' }, events.filter((x) => x.event.kind !== 'finding').map((x) => {
    const fs = findingsOf.get(x.event.id) || [];
    return el('div', { class: 'card event', 'data-kind': x.event.kind },
      el('h3', {}, link(fmtTime(x.event.time), 'event', x.event.id), ' ', badge(x.event.kind), ' ',
        (x.event.actor || {}).user || '', ' ', el('span', { class: 'muted' }, summary(x.event))),
      contentOf(x), fs.map(findingLine));
  })));
}

async function userPage(name) {
  const body = el('div', {}, el('p', { class: 'muted' }, 'Loading…'));
  setPage('User ' + name, body);
  const since = windowSince('30d').since;
  const f = { user: name, since };
  const [ts, tools, flagged, events] = await Promise.all([
    api('/api/v1/stats/timeseries' + qs({ ...f, bucket: 86400 })),
    api('/api/v1/stats/tools' + qs({ ...f, limit: 20 })),
    api('/api/v1/stats/flagged' + qs({ ...f, limit: 20 })),
    api('/api/v1/events' + qs({ user: name, limit: 200 }), { content: true }),
  ]);
  const sources = new Map();
  for (const x of events.events || []) {
    const a = x.event.actor || {};
    const k = [a.source_ip || '', a.user_agent || ''].join('\u0000');
    const s = sources.get(k) || { ip: a.source_ip || '', ua: a.user_agent || '', n: 0, last: x.event.time };
    s.n += 1;
    sources.set(k, s);
  }
  const points = ts.items || [];
  body.replaceChildren(
    el('div', { class: 'grid' },
      barChart(points, 'requests', null, 'requests per day (30 days)'),
      barChart(points, 'findings', 'flag', 'findings per day')),
    el('div', { class: 'grid' },
      el('div', { id: 'user-sources' }, el('h2', {}, 'Sources'),
        table([{ label: 'source ip' }, { label: 'user agent', text: true }, { label: 'events', num: true }, { label: 'last' }],
          [...sources.values()].map((s) => [s.ip, s.ua, fmtNum(s.n), fmtTime(s.last)]))),
      el('div', { id: 'user-tools' }, el('h2', {}, 'Tools'),
        table([{ label: 'tool' }, { label: 'calls', num: true }, { label: 'failures', num: true }, { label: 'blocked', num: true }],
          (tools.items || []).map((t) => [t.tool, fmtNum(t.calls), fmtNum(t.failures), fmtNum(t.blocked)]))),
      el('div', { id: 'user-findings' }, el('h2', {}, 'Findings'),
        table([{ label: 'time' }, { label: 'kind' }, { label: 'findings' }],
          (flagged.items || []).map((x) => [link(fmtTime(x.time_ns), 'event', x.event_id), x.kind, [sevBadge(x.max_severity), (x.categories || []).map(badge)]])))),
    el('h2', {}, 'Latest activity'),
    table([{ label: 'time' }, { label: 'kind' }, { label: 'summary' }, { label: 'content', text: true }],
      (events.events || []).slice(0, 50).map((x) => [link(fmtTime(x.event.time), 'event', x.event.id), x.event.kind, summary(x.event), preview(x)])));
}

async function integrityPage() {
  const body = el('div', {}, el('p', { class: 'muted' }, 'Loading…'));
  setPage('Integrity', body);
  const [cp, key, health] = await Promise.all([
    api('/api/v1/checkpoint').catch((e) => (e instanceof ApiError && e.status === 404 ? '' : Promise.reject(e))),
    api('/api/v1/public-key'),
    api('/api/v1/health'),
  ]);
  const lines = String(cp || '').split('\n');
  const keyText = String(key).trim();
  const origin = location.origin;
  body.replaceChildren(
    el('div', { class: 'cards' },
      card('tree size (latest checkpoint)', lines[1] ? fmtNum(Number(lines[1])) : '–'),
      card('records in the ledger', fmtNum(health.size)),
      card('ledger status', health.status)),
    el('h2', {}, 'Latest signed checkpoint'),
    el('pre', { class: 'content', id: 'checkpoint' }, cp || 'No checkpoint yet.'),
    el('h2', {}, 'Public key'),
    el('pre', { class: 'content', id: 'public-key' }, keyText),
    el('h2', {}, 'Verify offline'),
    el('p', {}, 'On a copy of the data directory, with the public key above (the master key is needed to check encrypted content):'),
    el('code', { class: 'cmd', id: 'verify-offline' }, `llmtrail verify --data-dir ./llmtrail-data --key '${keyText}' --allow-unsigned-tail`),
    el('p', {}, 'Against this server, keeping the checkpoint between runs so that a rolled-back or forked log is caught:'),
    el('code', { class: 'cmd', id: 'verify-online' }, `llmtrail verify --url ${origin} --checkpoint ./llmtrail.checkpoint --key '${keyText}'`));
}

// ---------- router ----------

async function render() {
  const hash = location.hash.replace(/^#\/?/, '') || 'overview';
  const [pathPart, query] = hash.split('?');
  const parts = pathPart.split('/').map((p) => decodeURIComponent(p));
  const params = new URLSearchParams(query || '');
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === parts[0]);
  try {
    switch (parts[0]) {
      case 'search': await search(params); break;
      case 'alerts': await alertsPage(params); break;
      case 'event': await eventPage(parts[1] || ''); break;
      case 'trace': await tracePage(parts.slice(1).join('/')); break;
      case 'user': await userPage(parts.slice(1).join('/')); break;
      case 'integrity': await integrityPage(); break;
      default: await overview(params);
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    showError(page(), e);
  }
}

async function start() {
  document.getElementById('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = document.getElementById('login-error');
    err.textContent = '';
    const token = document.getElementById('token').value.trim();
    try {
      await api('/api/v1/session', { method: 'POST', body: { token }, login: true });
      document.getElementById('token').value = '';
      if (await whoami()) await render();
    } catch (x) {
      err.textContent = x instanceof ApiError && x.status === 401 ? 'That token is not valid.' : String(x.message || x);
    }
  });
  document.getElementById('logout').addEventListener('click', async () => {
    await api('/api/v1/session', { method: 'DELETE', login: true }).catch(() => {});
    sessionStorage.removeItem('llmtrail.reason');
    state.reason = '';
    showLogin();
  });
  document.getElementById('reason-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.reason = document.getElementById('reason-input').value.trim();
    sessionStorage.setItem('llmtrail.reason', state.reason);
    document.getElementById('reason-current').textContent = state.reason ? 'current: ' + state.reason : '';
    render();
  });
  window.addEventListener('hashchange', () => { if (state.me) render(); });
  try {
    if (await whoami()) await render();
    else showLogin();
  } catch (e) {
    showError(page(), e);
  }
}

document.addEventListener('DOMContentLoaded', start);
