// End-to-end test of the c4forge web page in headless Chromium.
//
// Drives Debian's /usr/bin/chromium with playwright-core (no browser
// download) against a running `c4forge serve`. Run by
// scripts/browser-test.sh, which starts the server and sets:
//   C4FORGE_URL             base URL of the server (required)
//   C4FORGE_ADMIN_EMAIL     an admin account created with `c4forge user create --admin`
//   C4FORGE_ADMIN_PASSWORD  its password
//   C4FORGE_ARTIFACTS       where screenshots and downloads go (default target/browser)
//   CHROMIUM                the browser (default /usr/bin/chromium)
// The server must issue short-lived access tokens (C4FORGE_TOKEN_TTL_SECS=30)
// so that the page's token renewal is exercised.
// Any mismatch throws and the process exits 1.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const base = process.env.C4FORGE_URL;
if (!base) throw new Error('C4FORGE_URL is not set (run scripts/browser-test.sh)');
const artifacts = resolve(process.env.C4FORGE_ARTIFACTS || join(root, 'target/browser'));
mkdirSync(artifacts, { recursive: true });
const adminEmail = process.env.C4FORGE_ADMIN_EMAIL;
const adminPassword = process.env.C4FORGE_ADMIN_PASSWORD;

const email = `e2e-${Date.now()}@example.com`;
const password = 'browser-test-password';
const bigbank = join(root, 'tests/fixtures/bigbank_container.puml');
// `apii` is a typo of the alias `api`: the parser reports it on line 6.
const BROKEN_LINE = 6;
const broken = [
  '@startuml',
  '!include https://raw.githubusercontent.com/plantuml-stdlib/C4-PlantUML/master/C4_Container.puml',
  'Person(user, "User")',
  'Container(api, "API", "Rust", "Serves things")',
  'Rel(user, api, "Uses")',
  'Rel(user, apii, "Uses")',
  '@enduml',
  '',
].join('\n');

// Parses with one warning (line 3: PlantUML rejects the bare procedure name)
// and generates: the warning must show on the finished job.
const WARNED_LINE = 3;
const warned = [
  '@startuml',
  '!include <C4/C4_Container>',
  'LAYOUT_LEFT_RIGHT',
  'Person(user, "User")',
  'Container(api, "API", "Python, FastAPI", "Serves things")',
  'Rel(user, api, "Uses", "HTTPS")',
  '@enduml',
  '',
].join('\n');

// A .zip bundle: a diagram and the file it includes relatively.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** A zip with the entries stored (no compression). */
function zipOf(entries) {
  const parts = [];
  const central = [];
  let offset = 0;
  for (const [name, text] of entries) {
    const data = Buffer.from(text, 'utf8');
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    parts.push(local, nameBytes, data);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(data.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt32LE(offset, 42);
    central.push(entry, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const dir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, dir, end]);
}
const shopZip = zipOf([
  ['main.puml', '@startuml\n!include <C4/C4_Container>\n!include parts/people.iuml\nContainer(api, "API", "Python, FastAPI", "Serves the shop")\nRel(customer, api, "Uses", "HTTPS")\n@enduml\n'],
  ['parts/people.iuml', 'Person(customer, "Customer", "Buys things")\n'],
]);

const TIMEOUT = 60_000;
const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    results.push(`FAIL ${name}`);
    e.message = `step "${name}": ${e.message}`;
    throw e;
  }
  results.push(`ok   ${name} (${Date.now() - t0} ms)`);
  console.log(`ok   ${name} (${Date.now() - t0} ms)`);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'c4forge-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1100, height: 900 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(TIMEOUT);

// Everything the browser complains about fails the test, except the errors
// a step announces it expects (a wrong password answers 401).
const problems = [];
let expected = null;
page.on('console', (m) => {
  if (m.type() !== 'error' && m.type() !== 'warning') return;
  if (expected && expected.test(m.text())) return;
  problems.push(`console ${m.type()}: ${m.text()}`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('response', (r) => {
  if (r.status() >= 500) problems.push(`HTTP ${r.status()} from ${r.url()}`);
});
let navigations = 0;
page.on('framenavigated', (f) => {
  if (f === page.mainFrame()) navigations += 1;
});

const job = (file) => page.locator('#jobs > li', { has: page.locator('.file', { hasText: file }) });
const expectText = async (locator, re, what) => {
  await locator.first().waitFor({ state: 'attached' });
  const deadline = Date.now() + TIMEOUT;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.first().textContent()) || '';
    if (re.test(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: expected ${re}, got ${JSON.stringify(last)}`);
};
const token = () => page.evaluate(() => sessionStorage.getItem('c4forge.token'));
const apiGet = async (path) => page.evaluate(async ([p, t]) => {
  const r = await fetch(p, { headers: { Authorization: `Bearer ${t}` } });
  return { status: r.status, body: await r.json() };
}, [path, await token()]);

async function signIn(who, pass, button = 'Sign in') {
  await page.getByLabel('Email').fill(who);
  await page.getByLabel(/^Password/).fill(pass);
  await page.getByRole('button', { name: button, exact: true }).click();
  await expectText(page.locator('#who-email'), new RegExp(`^${who.replace(/[.+]/g, '\\$&')}$`), 'signed-in user');
  await expectText(page.locator('#live'), /^live$/, 'websocket indicator');
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#auth').waitFor({ state: 'visible' });
}

try {
  await step('page served with a strict CSP and no inline code', async () => {
    const resp = await page.goto(base);
    assert.equal(resp.status(), 200);
    const csp = resp.headers()['content-security-policy'] || '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /connect-src 'self' ws: wss:/);
    assert.doesNotMatch(csp, /unsafe/);
    assert.equal(await page.title(), 'c4forge');
    for (const asset of ['/app.js', '/style.css']) {
      const r = await page.request.get(base + asset);
      assert.equal(r.status(), 200, asset);
      assert.match(r.headers()['content-type'], asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
    }
    assert.equal(await page.locator('#announce').getAttribute('aria-live'), 'polite');
    assert.ok(await page.locator('#app').isHidden(), 'the app is hidden before sign-in');
  });

  await step('register through the page (signs in, websocket live)', async () => {
    await signIn(email, password, 'Register');
    assert.ok(await page.locator('#dlq').isHidden(), 'no DLQ view for a regular user');
  });

  await step('a wrong password shows an error; the right one signs in', async () => {
    await signOut();
    expected = /401/;
    await page.getByLabel('Email').fill(email);
    await page.getByLabel(/^Password/).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectText(page.getByRole('alert'), /wrong email or password/, 'sign-in error');
    expected = null;
    await signIn(email, password);
    assert.ok(await page.getByRole('alert').isHidden(), 'the error is cleared');
  });

  // Record every status each job row shows, to prove the row changes live.
  const navigationsBefore = navigations;
  await page.evaluate(() => {
    window.__c4forgeSamePage = true;
    window.__statuses = {};
    new MutationObserver(() => {
      for (const li of document.querySelectorAll('#jobs > li')) {
        // keyed by job id: a websocket event can create the row before the
        // upload's 202 names its file
        const seen = (window.__statuses[li.dataset.job] ||= []);
        const s = li.querySelector('.status').textContent;
        if (s && seen[seen.length - 1] !== s) seen.push(s);
      }
    }).observe(document.getElementById('jobs'), { subtree: true, childList: true, characterData: true });
    window.__announced = [];
    const live = document.getElementById('announce');
    new MutationObserver(() => window.__announced.push(live.textContent))
      .observe(live, { subtree: true, childList: true, characterData: true });
  });

  await step('upload two diagrams at once with the file picker; done appears live', async () => {
    await page.getByLabel(/Choose .*files/).setInputFiles([
      { name: 'bigbank_container.puml', mimeType: 'text/plain', buffer: readFileSync(bigbank) },
      { name: 'second.puml', mimeType: 'text/plain', buffer: readFileSync(bigbank) },
    ]);
    const row = job('bigbank_container.puml');
    await expectText(row.locator('.status'), /^done$/, 'bigbank status');
    await expectText(job('second.puml').locator('.status'), /^done$/, 'second status');
    await expectText(row.locator('.detail'), /\d+ files generated/, 'bigbank detail');
    const jobId = await row.getAttribute('data-job');
    const seen = await page.evaluate((id) => window.__statuses[id], jobId);
    // every status, in order: the websocket gets `queued` before the
    // stages' events, whether the 202 or the first event arrives first
    assert.deepEqual(seen, ['queued', 'parsing', 'generating', 'storing', 'done'], `statuses shown: ${seen}`);
    const announced = await page.evaluate(() => window.__announced);
    for (const f of ['bigbank_container.puml', 'second.puml']) {
      assert.ok(announced.includes(`${f}: done`), `"${f}: done" not announced in ${JSON.stringify(announced)}`);
    }
    assert.equal(await page.evaluate(() => window.__c4forgeSamePage), true, 'the page was reloaded');
    assert.equal(navigations, navigationsBefore, 'the page navigated');
    console.log(`     statuses shown: ${seen.join(' -> ')}`);
  });

  await step('download code.zip (a zip) and one generated file', async () => {
    const row = job('bigbank_container.puml');
    const [zip] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('button', { name: 'Download code.zip' }).click(),
    ]);
    assert.equal(zip.suggestedFilename(), 'bigbank_container.zip');
    const zipPath = join(artifacts, 'bigbank_container.zip');
    await zip.saveAs(zipPath);
    const bytes = readFileSync(zipPath);
    assert.ok(bytes.length > 1000, `zip is ${bytes.length} bytes`);
    assert.equal(bytes.subarray(0, 2).toString('latin1'), 'PK', 'code.zip does not start with PK');

    await row.getByRole('button', { name: 'Show files' }).click();
    assert.equal(await row.getByRole('button', { name: 'Hide files' }).getAttribute('aria-expanded'), 'true');
    const [manifest] = await Promise.all([
      page.waitForEvent('download'),
      row.locator('.files').getByRole('button', { name: 'c4forge.json', exact: true }).click(),
    ]);
    const manifestPath = join(artifacts, 'c4forge.json');
    await manifest.saveAs(manifestPath);
    const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
    assert.ok(Array.isArray(m.files) && m.files.length > 5, 'manifest lists the files');
    const shown = await row.locator('.files li').count();
    assert.ok(shown >= m.files.length, `${shown} files shown, manifest has ${m.files.length}`);
    const [readme] = await Promise.all([
      page.waitForEvent('download'),
      row.locator('.files').getByRole('button', { name: 'pyproject.toml', exact: true }).click(),
    ]);
    const readmePath = join(artifacts, 'pyproject.toml');
    await readme.saveAs(readmePath);
    assert.match(readFileSync(readmePath, 'utf8'), /\[project\]/);
  });

  await step('drop a broken diagram; its diagnostic shows file, line and column', async () => {
    const dt = await page.evaluateHandle((text) => {
      const d = new DataTransfer();
      d.items.add(new File([text], 'broken.puml', { type: 'text/plain' }));
      return d;
    }, broken);
    await page.locator('#drop').dispatchEvent('dragover', { dataTransfer: dt });
    await page.locator('#drop').dispatchEvent('drop', { dataTransfer: dt });
    const row = job('broken.puml');
    await expectText(row.locator('.status'), /^failed$/, 'broken status');
    const diag = row.locator('.diagnostics li').first();
    const text = await expectText(diag, new RegExp(`^broken\\.puml:${BROKEN_LINE}:\\d+ error: .*apii`), 'diagnostic');
    assert.ok(await row.locator('.downloads').isHidden(), 'no downloads for a failed job');
    // The page shows exactly what the API reports.
    const id = await row.getAttribute('data-job');
    const { status, body } = await apiGet(`/api/v1/diagrams/${id}`);
    assert.equal(status, 200);
    const errors = body.diagnostics.filter((d) => d.severity === 'error');
    assert.ok(errors.length >= 1, 'the API reports an error');
    const shown = await row.locator('.diagnostics .loc').allTextContents();
    for (const d of body.diagnostics) assert.ok(shown.includes(`${d.file}:${d.line}:${d.column}`), `${JSON.stringify(d)} not shown in ${shown}`);
    assert.equal(errors[0].line, BROKEN_LINE);
    console.log(`     diagnostic shown: ${text}`);
    await page.screenshot({ path: join(artifacts, 'browser-e2e.png'), fullPage: true });
  });

  await step('after a reload the jobs come back from the API and the snapshot', async () => {
    await page.reload();
    await expectText(page.locator('#live'), /^live$/, 'websocket indicator');
    await expectText(job('bigbank_container.puml').locator('.status'), /^done$/, 'bigbank after reload');
    await expectText(job('broken.puml').locator('.diagnostics'), new RegExp(`broken\\.puml:${BROKEN_LINE}:`), 'diagnostic after reload');
  });

  await step('the file picker offers .zip bundles; one uploads as one job', async () => {
    const accept = await page.locator('#files').getAttribute('accept');
    assert.ok(accept.split(',').includes('.zip'), `accept="${accept}"`);
    await page.getByLabel(/Choose .*files/).setInputFiles([
      { name: 'shop.zip', mimeType: 'application/zip', buffer: shopZip },
    ]);
    const row = job('shop.zip');
    await expectText(row.locator('.status'), /^done$/, 'shop.zip status');
    await expectText(row.locator('.detail'), /\d+ files generated/, 'shop.zip detail');
  });

  await step('the warnings of a finished job show, live and after a reload', async () => {
    await page.getByLabel(/Choose .*files/).setInputFiles([
      { name: 'warned.puml', mimeType: 'text/plain', buffer: Buffer.from(warned) },
    ]);
    const row = job('warned.puml');
    await expectText(row.locator('.status'), /^done$/, 'warned status');
    const shown = new RegExp(`^warned\\.puml:${WARNED_LINE}:\\d+ warning: .*LAYOUT_LEFT_RIGHT`);
    await expectText(row.locator('.diagnostics li'), shown, 'warning shown live');
    await expectText(row.locator('.detail'), /files generated.*; 1 warning$/, 'warning counted in the detail');
    assert.ok(await row.locator('.downloads').isVisible(), 'the code is still downloadable');
    const id = await row.getAttribute('data-job');
    const { body } = await apiGet(`/api/v1/diagrams/${id}`);
    const warnings = body.diagnostics.filter((d) => d.severity === 'warning');
    assert.equal(warnings.length, 1, JSON.stringify(body.diagnostics));
    const locs = await row.locator('.diagnostics .loc').allTextContents();
    assert.deepEqual(locs, warnings.map((d) => `${d.file}:${d.line}:${d.column}`));
    await page.reload();
    await expectText(page.locator('#live'), /^live$/, 'websocket indicator');
    await expectText(job('warned.puml').locator('.diagnostics li'), shown, 'warning shown after a reload');
  });

  await step('retry a failed job from its row; delete a finished one (after confirming)', async () => {
    const broken = job('broken.puml');
    const id = await broken.getAttribute('data-job');
    const before = (await apiGet(`/api/v1/diagrams/${id}`)).body.history.length;
    assert.ok(await broken.getByRole('button', { name: 'Delete broken.puml' }).isVisible(), 'failed jobs can be deleted');
    assert.ok(await job('warned.puml').locator('button.retry').isHidden(), 'no retry for a done job');
    assert.ok(await job('warned.puml').locator('button.delete').isVisible(), 'done jobs can be deleted');
    // the announcements of this step (the live events may follow the retry's own at once)
    await page.evaluate(() => {
      window.__retryAnnounced = [];
      const live = document.getElementById('announce');
      new MutationObserver(() => window.__retryAnnounced.push(live.textContent))
        .observe(live, { subtree: true, childList: true, characterData: true });
    });
    await broken.getByRole('button', { name: 'Retry broken.puml' }).click();
    await page.waitForFunction(() => window.__retryAnnounced.includes('broken.puml: retried, queued'));
    // it runs again and fails again (the diagram is still broken), live
    let body;
    for (const deadline = Date.now() + TIMEOUT; ; await page.waitForTimeout(250)) {
      ({ body } = await apiGet(`/api/v1/diagrams/${id}`));
      if (body.status === 'failed' && body.history.length > before) break;
      assert.ok(Date.now() < deadline, `the retried job did not fail again: ${JSON.stringify(body.history)}`);
    }
    assert.ok(body.history.some((e) => e.status === 'queued' && e.detail && e.detail.retry === true), 'a retry event');
    await expectText(broken.locator('.status'), /^failed$/, 'failed again');
    await expectText(broken.locator('.diagnostics li'), new RegExp(`^broken\\.puml:${BROKEN_LINE}:`), 'diagnostic again');

    const second = job('second.puml');
    const secondId = await second.getAttribute('data-job');
    page.once('dialog', (d) => d.dismiss());
    await second.getByRole('button', { name: 'Delete second.puml' }).click();
    await page.waitForTimeout(300);
    assert.equal(await second.count(), 1, 'cancelling keeps the job');
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      d.accept();
    });
    await second.getByRole('button', { name: 'Delete second.puml' }).click();
    await expectText(page.locator('#announce'), /^second\.puml: deleted$/, 'delete announcement');
    await second.waitFor({ state: 'detached' });
    assert.match(asked, /Delete second\.puml/);
    expected = /404/;
    const gone = await apiGet(`/api/v1/diagrams/${secondId}`);
    expected = null;
    assert.equal(gone.status, 404, 'the job is gone from the API');
  });

  await step('jobs come a page at a time; "Load older jobs" pages through the rest', async () => {
    // Pages of 2 (the page asks for 50): the API's own `next` links are
    // followed. The websocket is held back so that only the list fills rows.
    const all = (await apiGet('/api/v1/diagrams?limit=200')).body.items.map((i) => i.job_id);
    assert.ok(all.length > 2, `${all.length} jobs: more than one page of 2`);
    const asked = [];
    await page.route(/\/api\/v1\/diagrams\?/, (route) => {
      const url = new URL(route.request().url());
      asked.push(url.search);
      if (url.searchParams.get('limit') === '50') url.searchParams.set('limit', '2');
      return route.continue({ url: url.toString() });
    });
    // (a route stays for the page's life: later connections go through)
    let holdWebsocket = true;
    await page.routeWebSocket(/\/api\/v1\/ws/, (ws) => {
      if (!holdWebsocket) ws.connectToServer();
    });
    await page.reload();
    await page.locator('#app').waitFor({ state: 'visible' });
    const rows = page.locator('#jobs > li');
    const more = page.getByRole('button', { name: 'Load older jobs' });
    await more.waitFor({ state: 'visible' });
    assert.equal(await rows.count(), 2, 'the first page only');
    assert.ok(asked[0].includes('limit=50'), `first request ${asked[0]}`);
    for (let pages = 1; await more.isVisible(); pages++) {
      assert.ok(pages < 20, 'paging ends');
      const n = await rows.count();
      await more.click();
      await page.waitForFunction((k) => document.querySelectorAll('#jobs > li').length > k || document.getElementById('more').hidden, n);
    }
    const shown = await rows.evaluateAll((lis) => lis.map((li) => li.dataset.job));
    assert.deepEqual(shown, all, 'every job, newest first, once');
    assert.ok(asked.slice(1).every((q) => q.includes('before=')), `older pages follow next links: ${asked}`);
    holdWebsocket = false;
    await page.unrouteAll();
    await page.reload();
    await expectText(page.locator('#live'), /^live$/, 'websocket indicator');
  });

  await step('admin: DLQ view with a replay button', async () => {
    assert.ok(adminEmail && adminPassword, 'C4FORGE_ADMIN_EMAIL and C4FORGE_ADMIN_PASSWORD are set');
    await signOut();
    await signIn(adminEmail, adminPassword);
    await page.locator('#dlq').waitFor({ state: 'visible' });
    // The real queue is empty on a fresh server.
    await page.locator('#dlq-empty').waitFor({ state: 'visible' });
    // A dead letter cannot be provoked from a browser: serve one from a stub
    // and check the page lists it and sends the replay.
    const entry = {
      id: 7, job_id: '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee', stage: 'store', reason: 'object store unavailable',
      attempts: 5, first_failed_at: '2026-01-01T00:00:00Z', last_failed_at: '2026-01-01T00:01:00Z', replayed_at: null,
    };
    let replayed = false;
    await page.route(/\/api\/v1\/admin\/dlq\?/, (route) => route.fulfill({
      json: { items: [replayed ? { ...entry, replayed_at: '2026-01-01T00:02:00Z' } : entry], unreplayed: replayed ? 0 : 1 },
    }));
    await page.route(/\/api\/v1\/admin\/dlq\/7\/replay$/, (route) => {
      assert.equal(route.request().method(), 'POST');
      assert.match(route.request().headers().authorization || '', /^Bearer /);
      replayed = true;
      return route.fulfill({ status: 202, json: { id: 7, status: 'queued' } });
    });
    await page.locator('#dlq').getByRole('button', { name: 'Refresh' }).click();
    const rowSel = page.locator('#dlq-rows tr[data-dead-letter="7"]');
    await expectText(rowSel, /object store unavailable/, 'dead letter row');
    await page.getByRole('button', { name: 'Replay dead letter 7' }).click();
    await expectText(page.locator('#announce'), /^Dead letter 7: queued$/, 'replay announcement');
    assert.equal(replayed, true, 'the replay request was sent');
    await expectText(rowSel.locator('button.replay'), /^Replayed$/, 'replayed button');
    assert.ok(await rowSel.locator('button.replay').isDisabled());
    await page.unrouteAll();
    await page.screenshot({ path: join(artifacts, 'browser-e2e-admin.png'), fullPage: true });
  });

  await step('admin: DLQ filters by stage and reason, shows a payload, replays all matching', async () => {
    const entry = (id, stage, reason) => ({
      id, job_id: `0190aaaa-bbbb-7ccc-8ddd-${String(id).padStart(12, '0')}`, stage, reason, attempts: 5,
      first_failed_at: '2026-01-01T00:00:00Z', last_failed_at: '2026-01-01T00:01:00Z', replayed_at: null,
    });
    const entries = [entry(11, 'store', 'object store unavailable'), entry(12, 'store', 'object store timeout'), entry(13, 'parse', 'bus closed')];
    const replayedIds = new Set();
    const lists = [];
    let bulk = null;
    await page.route(/\/api\/v1\/admin\/dlq\?/, (route) => {
      const q = new URL(route.request().url()).searchParams;
      lists.push(q.toString());
      // what the API does with these filters (ingest/src/admin.rs)
      const items = entries
        .filter((d) => !q.get('stage') || d.stage === q.get('stage'))
        .filter((d) => !q.get('reason') || d.reason.includes(q.get('reason')))
        .map((d) => (replayedIds.has(d.id) ? { ...d, replayed_at: '2026-01-01T00:02:00Z' } : d))
        .filter((d) => q.get('include_replayed') === 'true' || !d.replayed_at);
      return route.fulfill({ json: { items, unreplayed: entries.length - replayedIds.size } });
    });
    await page.route(/\/api\/v1\/admin\/dlq\/12$/, (route) => route.fulfill({
      json: { ...entries[1], payload: { v: 1, job_id: entries[1].job_id, body: { type: 'job.generated', files: 3 } } },
    }));
    await page.route(/\/api\/v1\/admin\/dlq\/replay\?/, (route) => {
      assert.equal(route.request().method(), 'POST');
      bulk = new URL(route.request().url()).searchParams;
      const ids = entries.filter((d) => d.stage === bulk.get('stage') && d.reason.includes(bulk.get('reason') || '')).map((d) => d.id);
      ids.forEach((i) => replayedIds.add(i));
      return route.fulfill({ status: 202, json: { replayed: ids } });
    });
    await page.locator('#dlq').getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#dlq-rows tr[data-dead-letter="13"]').waitFor();
    assert.equal(await page.locator('#dlq-rows tr[data-dead-letter]').count(), 3);

    await page.getByLabel('Stage').selectOption('store');
    await page.getByLabel('Reason contains').fill('object store');
    await page.locator('#dlq').getByRole('button', { name: 'Filter' }).click();
    await page.locator('#dlq-rows tr[data-dead-letter="13"]').waitFor({ state: 'detached' });
    assert.equal(await page.locator('#dlq-rows tr[data-dead-letter]').count(), 2);
    assert.match(lists[lists.length - 1], /stage=store/);
    assert.match(lists[lists.length - 1], /reason=object\+store/);
    await expectText(page.locator('#dlq-summary'), /^2 shown \(2 not replayed\); 3 not replayed in all$/, 'DLQ summary');

    const payloadButton = page.getByRole('button', { name: 'Payload of dead letter 12' });
    await payloadButton.click();
    const payload = page.locator('#dlq-payload-12 pre');
    await expectText(payload, /"type": "job\.generated"/, 'payload shown');
    assert.equal(await payloadButton.getAttribute('aria-expanded'), 'true');
    await payloadButton.click();
    assert.ok(await payload.isHidden(), 'payload hidden again');

    let confirmText = '';
    page.once('dialog', (d) => {
      confirmText = d.message();
      d.accept();
    });
    await page.getByRole('button', { name: 'Replay all matching' }).click();
    await expectText(page.locator('#announce'), /^2 dead letters replayed \(stage store, reason containing "object store"\)$/, 'bulk replay announcement');
    assert.match(confirmText, /stage store, reason containing "object store"/);
    assert.equal(bulk.get('stage'), 'store');
    assert.equal(bulk.get('reason'), 'object store');
    assert.equal(bulk.get('include_replayed'), null, 'a bulk replay never re-sends replayed entries');
    await expectText(page.locator('#dlq-rows tr[data-dead-letter="11"] button.replay'), /^Replayed$/, 'row 11 replayed');
    await expectText(page.locator('#dlq-rows tr[data-dead-letter="12"] button.replay'), /^Replayed$/, 'row 12 replayed');
    assert.ok(await page.getByRole('button', { name: 'Replay all matching' }).isDisabled(), 'nothing left to replay');
    await page.screenshot({ path: join(artifacts, 'browser-e2e-dlq.png'), fullPage: true });
    await page.unrouteAll();
    await page.getByLabel('Stage').selectOption('');
    await page.getByLabel('Reason contains').fill('');
    await page.locator('#dlq').getByRole('button', { name: 'Filter' }).click();
    await page.locator('#dlq-empty').waitFor({ state: 'visible' });
  });

  await step('the page renews the access token before it expires (C4FORGE_TOKEN_TTL_SECS=30)', async () => {
    const first = await token();
    const exp = JSON.parse(Buffer.from(first.split('.')[1], 'base64url').toString()).exp;
    assert.ok(exp * 1000 - Date.now() < 60_000, 'the server must run with a short token lifetime');
    await page.waitForFunction((t) => {
      const now = sessionStorage.getItem('c4forge.token');
      return now && now !== t;
    }, first, { timeout: 60_000 });
    await page.waitForTimeout(Math.max(0, exp * 1000 - Date.now() + 1500)); // the old token is now expired
    const { status } = await apiGet('/api/v1/diagrams');
    assert.equal(status, 200, 'the renewed token works');
    await page.locator('#dlq').getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#dlq-empty').waitFor({ state: 'visible' });
    assert.ok(await page.locator('#who').isVisible(), 'still signed in');
    assert.ok(await page.getByRole('alert').isHidden(), 'no error shown');
  });

  await step('no console errors, page errors or server errors', async () => {
    assert.deepEqual(problems, []);
  });
} catch (e) {
  try {
    await page.screenshot({ path: join(artifacts, 'browser-e2e-failure.png'), fullPage: true });
    console.error(`screenshot of the failure: ${join(artifacts, 'browser-e2e-failure.png')}`);
  } catch (_) {
    // the browser is gone
  }
  if (problems.length) console.error(`browser problems:\n  ${problems.join('\n  ')}`);
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
const failed = results.filter((r) => r.startsWith('FAIL')).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
console.log(`artefacts: ${artifacts}`);
