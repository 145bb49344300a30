// c4forge web page: sign in, upload diagrams (and .zip bundles), follow jobs
// live over the websocket, page through older jobs, show the diagnostics of
// failed jobs and the warnings of finished ones, download code, retry or
// delete jobs; admins filter the dead-letter queue, read a payload and
// replay one entry or every matching one.
// Plain JavaScript, no framework, no build step; text goes into the page
// with textContent only.
'use strict';

const STAGES = ['queued', 'parsing', 'generating', 'storing', 'done'];
const FAILED = ['failed', 'dead_lettered'];
const STAGE_STATUS = { parse: 'parsing', generate: 'generating', fill: 'filling', store: 'storing', ingest: 'queued' };
const TOKEN_KEY = 'c4forge.token';
const EMAIL_KEY = 'c4forge.email';
const REFRESH_KEY = 'c4forge.refresh';
const EXPIRED = 'Your session has expired: sign in again.';
// Jobs per page of `GET /api/v1/diagrams` (the API allows 1..=200).
const PAGE_SIZE = 50;

const state = {
  token: null,
  claims: null,
  refresh: null, // refresh token: renews the access token before it expires
  renewTimer: null,
  renewing: null,
  session: 0, // bumped on sign-out so late renewals are dropped
  jobs: new Map(), // job id -> job
  next: null, // link to the next (older) page of jobs, from the API
  pagedOlder: false, // whether older pages were loaded (a refresh keeps `next` then)
  ws: null,
  wsRetries: 0,
  wsTimer: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

// ---- messages -------------------------------------------------------------

function announce(text) {
  $('announce').textContent = text;
}

function showError(text) {
  const box = $('error');
  box.textContent = text;
  box.hidden = !text;
}

class ApiFailure extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// ---- HTTP -----------------------------------------------------------------

/** Calls the API with the bearer token; problem+json errors become ApiFailure. */
async function api(path, { method = 'GET', body, headers = {}, raw = false, retried = false } = {}) {
  const h = { Accept: 'application/json, application/problem+json', ...headers };
  if (state.token) h.Authorization = `Bearer ${state.token}`;
  let resp;
  try {
    resp = await fetch(path, { method, body, headers: h });
  } catch (e) {
    throw new ApiFailure(`the server cannot be reached (${e.message})`, 0);
  }
  if (!resp.ok) {
    let message = `${resp.status} ${resp.statusText}`;
    try {
      const problem = await resp.json();
      message = problem.detail || problem.title || message;
    } catch (_) {
      // not JSON: keep the status line
    }
    if (resp.status === 401 && state.token) {
      // The access token may have expired: renew it once and try again.
      if (!retried && (await renew()) === 'ok') return api(path, { method, body, headers, raw, retried: true });
      signOut(EXPIRED);
    }
    throw new ApiFailure(message, resp.status);
  }
  return raw ? resp : resp.json();
}

function jsonBody(obj) {
  return { body: JSON.stringify(obj), headers: { 'Content-Type': 'application/json' } };
}

/** Fetches with the token and saves the response as a file (links cannot carry headers). */
async function download(path, name) {
  const resp = await api(path, { raw: true });
  const blob = await resp.blob();
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name, hidden: '' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  announce(`Downloaded ${name}`);
}

function encodePath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}

// ---- session --------------------------------------------------------------

function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
  } catch (_) {
    return null;
  }
}

function expired(claims) {
  return !claims || (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now());
}

/** Takes a token response (`access_token`, optional `refresh_token`) as the session's tokens. */
function adopt(t) {
  const claims = claimsOf(t.access_token || '');
  if (expired(claims)) return false;
  state.token = t.access_token;
  state.claims = claims;
  sessionStorage.setItem(TOKEN_KEY, t.access_token);
  if (t.refresh_token) {
    state.refresh = t.refresh_token;
    sessionStorage.setItem(REFRESH_KEY, t.refresh_token);
  }
  clearTimeout(state.renewTimer);
  if (state.refresh && typeof claims.exp === 'number') {
    const left = claims.exp * 1000 - Date.now();
    const delay = Math.max(5_000, Math.min(left - 60_000, left * 0.8));
    state.renewTimer = setTimeout(renewOrSignOut, delay);
  }
  return true;
}

/** Renews the access token with the refresh token: 'ok', 'refused' or 'unreachable'. */
function renew() {
  if (!state.refresh) return Promise.resolve('refused');
  if (!state.renewing) {
    const session = state.session;
    state.renewing = (async () => {
      try {
        const resp = await fetch('/api/v1/auth/refresh', {
          method: 'POST', ...jsonBody({ refresh_token: state.refresh }),
        });
        if (session !== state.session) return 'refused';
        if (!resp.ok) return resp.status >= 500 || resp.status === 429 ? 'unreachable' : 'refused';
        return adopt(await resp.json()) ? 'ok' : 'refused';
      } catch (_) {
        return 'unreachable';
      } finally {
        state.renewing = null;
      }
    })();
  }
  return state.renewing;
}

async function renewOrSignOut() {
  const outcome = await renew();
  if (outcome === 'refused' && state.token) signOut(EXPIRED);
  else if (outcome === 'unreachable' && state.token) state.renewTimer = setTimeout(renewOrSignOut, 10_000);
}

function start(tokens, email) {
  if (!adopt(tokens)) return false;
  const claims = state.claims;
  sessionStorage.setItem(EMAIL_KEY, email);
  $('who-email').textContent = email;
  $('who').hidden = false;
  $('auth').hidden = true;
  $('app').hidden = false;
  $('dlq').hidden = claims.adm !== true;
  connect();
  loadJobs();
  loadFillModels();
  if (claims.adm === true) loadDlq();
  return true;
}

function signOut(message) {
  state.session += 1;
  state.token = null;
  state.claims = null;
  state.refresh = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EMAIL_KEY);
  sessionStorage.removeItem(REFRESH_KEY);
  clearTimeout(state.wsTimer);
  clearTimeout(state.renewTimer);
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, 'signed out');
  setLive('off');
  state.jobs.clear();
  state.next = null;
  state.pagedOlder = false;
  $('jobs').replaceChildren();
  $('no-jobs').hidden = false;
  $('more').hidden = true;
  $('dlq-rows').replaceChildren();
  $('who').hidden = true;
  $('app').hidden = true;
  $('dlq').hidden = true;
  $('auth').hidden = false;
  $('password').value = '';
  announce(message || 'Signed out');
}

async function signIn(email, password) {
  const t = await api('/api/v1/auth/token', { method: 'POST', ...jsonBody({ email, password }) });
  if (!start(t, email)) throw new ApiFailure('the server sent an unusable token', 0);
  announce(`Signed in as ${email}`);
}

async function onAuth(event, register) {
  event.preventDefault();
  showError('');
  const email = $('email').value.trim();
  const password = $('password').value;
  // The server's policy decides (and says which rule failed); this only
  // spares a round trip. Length in characters, as the server counts it.
  const minimum = register ? 12 : 8;
  if (!email || [...password].length < minimum) {
    showError(`Enter an email and a password of at least ${minimum} characters.`);
    return;
  }
  const buttons = [$('sign-in'), $('register')];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    if (register) {
      await api('/api/v1/auth/register', { method: 'POST', ...jsonBody({ email, password }) });
    }
    await signIn(email, password);
  } catch (e) {
    showError(`${register ? 'Registration' : 'Sign-in'} failed: ${e.message}`);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// ---- jobs -----------------------------------------------------------------

function stageIndex(status) {
  // `filling` (jobs that asked for model-written bodies) is part of the
  // generating step of the bar.
  return STAGES.indexOf(status === 'filling' ? 'generating' : status);
}

/** The job with this id, created (and put in the list) when new. */
function jobFor(id, { prepend = true } = {}) {
  let job = state.jobs.get(id);
  if (job) return job;
  const node = $('job-template').content.firstElementChild.cloneNode(true);
  node.dataset.job = id;
  job = {
    id, node, file: '', status: 'queued', seq: -Infinity, at: null, detail: {},
    reached: 0, failedAt: null, diagnostics: [], filesShown: false,
    warnings: null, // warnings the parse stage counted (null: unknown)
    warningsLoaded: false, // whether a finished job's warnings were fetched
  };
  node.querySelector('.zip').addEventListener('click', () => {
    const stem = job.file.replace(/\.[^.]*$/, '') || job.id;
    download(`/api/v1/diagrams/${job.id}/code.zip`, `${stem}.zip`).catch((e) => showError(`Download failed: ${e.message}`));
  });
  node.querySelector('.list-files').addEventListener('click', () => toggleFiles(job));
  node.querySelector('.retry').addEventListener('click', () => retryJob(job));
  node.querySelector('.delete').addEventListener('click', () => deleteJob(job));
  state.jobs.set(id, job);
  const list = $('jobs');
  if (prepend) list.prepend(node);
  else list.append(node);
  $('no-jobs').hidden = true;
  return job;
}

function render(job) {
  const n = job.node;
  n.querySelector('.file').textContent = job.file || job.id;
  const status = n.querySelector('.status');
  status.textContent = job.status;
  status.dataset.status = job.status;
  n.dataset.status = job.status;
  const when = n.querySelector('.when');
  if (job.at) {
    when.dateTime = job.at;
    when.textContent = new Date(job.at).toLocaleTimeString();
  }
  const current = stageIndex(job.status);
  if (current >= 0) job.reached = current;
  n.querySelectorAll('.stages li').forEach((li, i) => {
    li.classList.toggle('reached', i < job.reached || job.status === 'done');
    li.classList.toggle('failed', FAILED.includes(job.status) && i === job.failedAt);
    if (i === job.reached && !FAILED.includes(job.status)) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  });
  n.querySelector('.detail').textContent = describe(job);
  const diags = n.querySelector('.diagnostics');
  diags.replaceChildren(...job.diagnostics.map(diagnosticItem));
  diags.hidden = job.diagnostics.length === 0;
  diags.classList.toggle('warnings-only', job.diagnostics.every((d) => d.severity === 'warning'));
  diags.setAttribute('aria-label', job.status === 'done' ? 'Warnings' : 'Diagnostics');
  n.querySelector('.downloads').hidden = job.status !== 'done';
  const failed = FAILED.includes(job.status);
  const finished = failed || job.status === 'done';
  const label = job.file || job.id;
  const retry = n.querySelector('.retry');
  retry.hidden = !failed;
  retry.setAttribute('aria-label', `Retry ${label}`);
  const del = n.querySelector('.delete');
  del.hidden = !finished;
  del.setAttribute('aria-label', `Delete ${label}`);
  n.querySelector('.job-actions').hidden = !finished;
}

function describe(job) {
  const d = job.detail || {};
  switch (job.status) {
    case 'done': {
      const parts = [];
      if (typeof d.files === 'number') parts.push(`${d.files} files generated`);
      if (d.generator) parts.push(`by ${d.generator} ${d.generator_version || ''}`.trim());
      const text = parts.join(' ') || 'Done';
      const warned = job.diagnostics.filter((x) => x.severity === 'warning').length;
      return warned ? `${text}; ${warned} warning${warned === 1 ? '' : 's'}` : text;
    }
    case 'failed':
    case 'dead_lettered':
      return d.reason ? `Failed: ${d.reason}` : 'Failed';
    case 'queued':
      return d.replayed_dead_letter ? 'Replayed from the dead-letter queue' : 'Waiting for the parser';
    case 'generating':
      return typeof d.elements === 'number'
        ? `Generating… (${d.elements} elements, ${d.relationships} relationships found)`
        : 'Generating…';
    case 'filling':
      return typeof d.modules === 'number'
        ? `Asking ${d.model} for ${d.modules} implementation modules…`
        : 'Filling…';
    case 'storing':
      if (d.fill && typeof d.fill.accepted === 'number') {
        return `Storing… (${d.files} files; ${d.fill.accepted} of ${d.fill.modules} modules written by ${d.fill.model} passed the checks)`;
      }
      return typeof d.files === 'number' ? `Storing… (${d.files} files generated)` : 'Storing…';
    default:
      return `${job.status[0].toUpperCase()}${job.status.slice(1)}…`;
  }
}

function diagnosticItem(d) {
  const loc = `${d.file || '?'}:${d.line}:${d.column}`;
  return el('li', { class: `diagnostic sev-${d.severity || 'error'}` },
    el('code', { class: 'loc', title: `${d.file}, line ${d.line}, column ${d.column}`, text: loc }),
    ' ',
    el('span', { class: 'severity', text: d.severity || 'error' }),
    ': ',
    el('span', { class: 'message', text: d.message || '' }));
}

/** Applies one status event; `seq` orders events and drops duplicates. */
function applyEvent(ev, snapshot) {
  const known = state.jobs.has(ev.job_id);
  const job = jobFor(ev.job_id);
  if (ev.seq <= job.seq) return;
  const changed = job.status !== ev.status;
  job.seq = ev.seq;
  job.status = ev.status;
  job.at = ev.at;
  job.detail = ev.detail || {};
  if (job.detail.file_name && !job.file) job.file = job.detail.file_name;
  if (ev.status === 'generating' && typeof job.detail.warnings === 'number') job.warnings = job.detail.warnings;
  let load = !known && !job.file;
  if (FAILED.includes(ev.status)) {
    job.failedAt = stageIndex(STAGE_STATUS[ev.stage] || 'queued');
    job.diagnostics = Array.isArray(job.detail.diagnostics) ? job.detail.diagnostics : [];
    load = true;
  } else if (ev.status === 'done') {
    // The warnings of a finished job are in its resource, not in the event.
    job.failedAt = null;
    load = load || needsWarnings(job);
  } else {
    job.failedAt = null;
    job.diagnostics = [];
    if (ev.status === 'queued') {
      job.warnings = null;
      job.warningsLoaded = false;
    }
  }
  if (load) loadJob(job);
  render(job);
  if (!snapshot && changed) announce(`${job.file || job.id}: ${job.status}`);
}

/** Whether a finished job's warnings still have to be fetched (none when the parse stage counted none). */
function needsWarnings(job) {
  return job.status === 'done' && !job.warningsLoaded && job.warnings !== 0;
}

/** Refreshes one job from `GET /diagrams/{id}` (file name, diagnostics, a finished job's warnings). */
async function loadJob(job) {
  try {
    const v = await api(`/api/v1/diagrams/${job.id}`);
    if (!state.jobs.has(job.id)) return; // deleted meanwhile
    job.file = v.file_name;
    if (job.seq === -Infinity) job.status = v.status;
    if (FAILED.includes(job.status)) job.diagnostics = v.diagnostics || [];
    else if (job.status === 'done' && v.status === 'done') {
      job.diagnostics = (v.diagnostics || []).filter((d) => d.severity === 'warning');
      job.warningsLoaded = true;
    }
    render(job);
  } catch (e) {
    if (state.token && e.status !== 404) showError(`Could not load job ${job.id}: ${e.message}`);
  }
}

/** Shows one page of `GET /api/v1/diagrams` (newest first) below the jobs already shown. */
function showPage(items) {
  for (const item of items) {
    const job = jobFor(item.job_id, { prepend: false });
    job.file = item.file_name;
    if (job.seq === -Infinity) {
      job.status = item.status;
      job.at = job.at || item.created_at;
      if (FAILED.includes(item.status) && job.diagnostics.length === 0) loadJob(job);
    }
    if (needsWarnings(job)) loadJob(job);
    render(job);
  }
}

/** The newest page of jobs (again after a reconnect); older pages with "Load older jobs". */
async function loadJobs() {
  try {
    const { items, next } = await api(`/api/v1/diagrams?limit=${PAGE_SIZE}`);
    showPage(items);
    if (!state.pagedOlder) state.next = next || null;
    $('more').hidden = !state.next;
  } catch (e) {
    if (state.token) showError(`Could not load your jobs: ${e.message}`);
  }
}

async function loadOlderJobs() {
  const button = $('more');
  if (!state.next) return;
  button.disabled = true;
  try {
    const { items, next } = await api(state.next);
    state.pagedOlder = true;
    showPage(items);
    state.next = next || null;
    announce(`${items.length} older job${items.length === 1 ? '' : 's'} loaded`);
  } catch (e) {
    showError(`Could not load older jobs: ${e.message}`);
  } finally {
    button.disabled = false;
    button.hidden = !state.next;
  }
}

/** `POST /diagrams/{id}/retry`: a failed or dead-lettered job runs again from its source. */
async function retryJob(job) {
  const button = job.node.querySelector('.retry');
  button.disabled = true;
  showError('');
  const seqBefore = job.seq;
  try {
    await api(`/api/v1/diagrams/${job.id}/retry`, { method: 'POST' });
    // The websocket brings the new events; until then the row says queued,
    // unless an event of the new run already arrived (a job can fail again
    // before this answer does: its row then already shows the new run).
    if (FAILED.includes(job.status) && job.seq === seqBefore) {
      job.status = 'queued';
      job.detail = { retry: true };
      job.failedAt = null;
      job.diagnostics = [];
      job.warnings = null;
      job.warningsLoaded = false;
      render(job);
    }
    announce(`${job.file || job.id}: retried, queued`);
  } catch (e) {
    showError(`Retry of ${job.file || job.id} failed: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

/** `DELETE /diagrams/{id}`: removes a finished job with its source and code. */
async function deleteJob(job) {
  const label = job.file || job.id;
  if (!window.confirm(`Delete ${label} with its uploaded source and generated code?`)) return;
  const button = job.node.querySelector('.delete');
  button.disabled = true;
  showError('');
  try {
    await api(`/api/v1/diagrams/${job.id}`, { method: 'DELETE', raw: true });
    state.jobs.delete(job.id);
    job.node.remove();
    $('no-jobs').hidden = state.jobs.size > 0;
    announce(`${label}: deleted`);
  } catch (e) {
    button.disabled = false;
    showError(`Delete of ${label} failed: ${e.message}`);
  }
}

async function toggleFiles(job) {
  const button = job.node.querySelector('.list-files');
  const list = job.node.querySelector('.files');
  if (job.filesShown) {
    job.filesShown = false;
    list.hidden = true;
    button.textContent = 'Show files';
    button.setAttribute('aria-expanded', 'false');
    return;
  }
  try {
    const manifest = await api(`/api/v1/diagrams/${job.id}/code/c4forge.json`);
    const paths = (manifest.files || []).map((f) => f.path);
    if (!paths.includes('c4forge.json')) paths.push('c4forge.json');
    paths.sort();
    list.replaceChildren(...paths.map((p) => {
      const b = el('button', { type: 'button', class: 'link', text: p });
      b.addEventListener('click', () => {
        download(`/api/v1/diagrams/${job.id}/code/${encodePath(p)}`, p.split('/').pop())
          .catch((e) => showError(`Download of ${p} failed: ${e.message}`));
      });
      return el('li', {}, b);
    }));
    job.filesShown = true;
    list.hidden = false;
    button.textContent = 'Hide files';
    button.setAttribute('aria-expanded', 'true');
  } catch (e) {
    showError(`Could not list the files: ${e.message}`);
  }
}

// ---- upload ---------------------------------------------------------------

// The deployment targets ticked on the page, as the API's `deploy` parameter.
function deployParam() {
  const ticked = [...document.querySelectorAll('#deploy input[name="deploy"]:checked')].map((i) => i.value);
  return ticked.length ? `&deploy=${encodeURIComponent(ticked.join(','))}` : '';
}

// The language model chosen to write the impl/ bodies, as the API's `fill`
// parameter (none by default).
function fillParam() {
  const choice = $('fill-model').value;
  return choice ? `&fill=${encodeURIComponent(choice)}` : '';
}

// Offers the fill models the server has configured (`GET /api/v1/models`);
// the choice stays hidden when there are none.
async function loadFillModels() {
  try {
    const r = await api('/api/v1/models');
    const models = Array.isArray(r.fill) ? r.fill : [];
    const select = $('fill-model');
    select.replaceChildren(new Option('none (stubs for you to fill in)', ''));
    for (const m of models) select.append(new Option(`${m.name} (${m.version})`, m.name));
    $('fill').hidden = models.length === 0;
  } catch (e) {
    $('fill').hidden = true;
  }
}

async function uploadFiles(files) {
  showError('');
  const deploy = deployParam() + fillParam();
  for (const file of files) {
    try {
      const zip = /\.zip$/i.test(file.name);
      const r = await api(`/api/v1/diagrams?name=${encodeURIComponent(file.name)}${deploy}`, {
        method: 'POST',
        body: file,
        headers: { 'Content-Type': zip ? 'application/zip' : 'text/plain; charset=utf-8' },
      });
      const job = jobFor(r.job_id);
      if (!job.file) job.file = file.name;
      if (job.seq === -Infinity) job.status = r.status;
      render(job);
      announce(`${file.name}: uploaded, ${job.status}`);
    } catch (e) {
      showError(`Upload of ${file.name} failed: ${e.message}`);
    }
  }
}

function setupUpload() {
  const input = $('files');
  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = '';
    uploadFiles(files);
  });
  const zone = $('drop');
  // A file dropped next to the zone must not replace the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (state.token && e.dataTransfer && e.dataTransfer.files.length) uploadFiles([...e.dataTransfer.files]);
  });
}

// ---- websocket ------------------------------------------------------------

function setLive(mode) {
  const live = $('live');
  live.dataset.state = mode;
  live.textContent = { live: 'live', connecting: 'connecting…', off: 'offline' }[mode];
}

/** One websocket for all the user's jobs: snapshot, then live; reconnects with backoff. */
function connect() {
  if (!state.token || state.ws) return;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws?token=${encodeURIComponent(state.token)}`);
  state.ws = ws;
  setLive('connecting');
  ws.addEventListener('message', (m) => {
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch (_) {
      return;
    }
    if (msg.type === 'event') applyEvent(msg.event, msg.snapshot);
    else if (msg.type === 'snapshot_done') {
      state.wsRetries = 0;
      setLive('live');
    } else if (msg.type === 'error') showError(`Live updates: ${msg.message}`);
  });
  ws.addEventListener('close', () => {
    if (state.ws !== ws) return;
    state.ws = null;
    setLive('off');
    if (!state.token) return;
    if (expired(state.claims)) {
      renew().then((outcome) => {
        if (outcome === 'ok') connect();
        else if (state.token) signOut(EXPIRED);
      });
      return;
    }
    const delay = Math.min(30_000, 500 * 2 ** state.wsRetries);
    state.wsRetries += 1;
    state.wsTimer = setTimeout(() => {
      connect();
      loadJobs();
    }, delay);
  });
}

// ---- dead-letter queue (admins) -------------------------------------------

/** The DLQ filters of the form as query parameters (the API filters by stage and reason text). */
function dlqFilter({ forReplay = false } = {}) {
  const q = new URLSearchParams();
  const stage = $('dlq-stage').value;
  const reason = $('dlq-reason').value.trim();
  if (stage) q.set('stage', stage);
  if (reason) q.set('reason', reason);
  if (!forReplay && $('dlq-replayed').checked) q.set('include_replayed', 'true');
  return q;
}

function dlqFilterText() {
  const parts = [];
  if ($('dlq-stage').value) parts.push(`stage ${$('dlq-stage').value}`);
  if ($('dlq-reason').value.trim()) parts.push(`reason containing "${$('dlq-reason').value.trim()}"`);
  return parts.length ? parts.join(', ') : 'any stage and reason';
}

async function loadDlq() {
  try {
    const { items, unreplayed } = await api(`/api/v1/admin/dlq?${dlqFilter()}`);
    $('dlq-rows').replaceChildren(...items.flatMap(dlqRows));
    $('dlq-table').hidden = items.length === 0;
    $('dlq-empty').hidden = items.length > 0;
    $('dlq-empty').textContent = unreplayed > 0 ? 'No dead letters match the filter.' : 'No dead letters.';
    const waiting = items.filter((d) => !d.replayed_at).length;
    $('dlq-summary').textContent = `${items.length} shown (${waiting} not replayed); ${unreplayed} not replayed in all`;
    $('dlq-replay-all').disabled = waiting === 0;
  } catch (e) {
    showError(`Could not load the dead-letter queue: ${e.message}`);
  }
}

/** `POST /admin/dlq/replay` with the form's filters: every matching entry not yet replayed. */
async function replayAllDlq() {
  const what = dlqFilterText();
  if (!window.confirm(`Replay every dead letter not yet replayed with ${what}?`)) return;
  const button = $('dlq-replay-all');
  button.disabled = true;
  showError('');
  try {
    const { replayed } = await api(`/api/v1/admin/dlq/replay?${dlqFilter({ forReplay: true })}`, { method: 'POST' });
    const n = (replayed || []).length;
    announce(`${n} dead letter${n === 1 ? '' : 's'} replayed (${what})`);
  } catch (e) {
    showError(`Bulk replay failed: ${e.message}`);
  } finally {
    await loadDlq();
  }
}

/** A dead letter's row, and the (hidden) row that shows its payload. */
function dlqRows(d) {
  const replay = el('button', { type: 'button', class: 'replay', text: d.replayed_at ? 'Replayed' : 'Replay' });
  replay.setAttribute('aria-label', `Replay dead letter ${d.id}`);
  replay.disabled = Boolean(d.replayed_at);
  replay.addEventListener('click', async () => {
    replay.disabled = true;
    try {
      const r = await api(`/api/v1/admin/dlq/${d.id}/replay`, { method: 'POST' });
      announce(`Dead letter ${d.id}: ${r.status.replace('_', ' ')}`);
      await loadDlq();
    } catch (e) {
      replay.disabled = false;
      showError(`Replay of dead letter ${d.id} failed: ${e.message}`);
    }
  });
  const payloadId = `dlq-payload-${d.id}`;
  const pre = el('pre', { class: 'payload' });
  const payloadRow = el('tr', { class: 'payload-row', id: payloadId, hidden: '' },
    el('td', { colspan: '7' }, pre));
  const show = el('button', { type: 'button', class: 'show-payload secondary', text: 'Payload' });
  show.setAttribute('aria-label', `Payload of dead letter ${d.id}`);
  show.setAttribute('aria-expanded', 'false');
  show.setAttribute('aria-controls', payloadId);
  show.addEventListener('click', async () => {
    if (!payloadRow.hidden) {
      payloadRow.hidden = true;
      show.setAttribute('aria-expanded', 'false');
      return;
    }
    try {
      const full = await api(`/api/v1/admin/dlq/${d.id}`);
      pre.textContent = typeof full.payload === 'string' ? full.payload : JSON.stringify(full.payload, null, 2);
      payloadRow.hidden = false;
      show.setAttribute('aria-expanded', 'true');
    } catch (e) {
      showError(`Could not load dead letter ${d.id}: ${e.message}`);
    }
  });
  const cells = [d.id, d.job_id, d.stage, d.reason, d.attempts, new Date(d.last_failed_at).toLocaleString()];
  const row = el('tr', { 'data-dead-letter': String(d.id) },
    ...cells.map((c) => el('td', { text: String(c) })),
    el('td', {}, el('div', { class: 'row-actions' }, show, replay)));
  return [row, payloadRow];
}

// ---- start ----------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('auth-form').addEventListener('submit', (e) => onAuth(e, false));
  $('register').addEventListener('click', (e) => onAuth(e, true));
  $('sign-out').addEventListener('click', () => signOut());
  $('refresh').addEventListener('click', () => loadJobs());
  $('more').addEventListener('click', () => loadOlderJobs());
  $('dlq-refresh').addEventListener('click', () => loadDlq());
  $('dlq-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    loadDlq();
  });
  $('dlq-replay-all').addEventListener('click', () => replayAllDlq());
  setupUpload();
  const token = sessionStorage.getItem(TOKEN_KEY);
  const email = sessionStorage.getItem(EMAIL_KEY) || '';
  state.refresh = sessionStorage.getItem(REFRESH_KEY);
  if (token && !start({ access_token: token }, email)) {
    renew().then((outcome) => {
      if (outcome !== 'ok' || !start({ access_token: state.token }, email)) signOut(EXPIRED);
    });
  }
});
