/// <reference lib="dom" />
// The fleet console in a real browser: Debian's chromium, headless, driven by puppeteer-core,
// against a real `serve` on the demo fleet (in this test's own temp dir, on an ephemeral port).
// The page loads with no console error and no failed request, shows every host, runs a rollout
// from its form to the end, shows a failed canary with the hook's output one click away, can be
// used with the keyboard only, shows API errors as text, and asks only for SPEC 7.1's public
// routes and its own files. Screenshots of each view are written under the temp dir.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { parseCli } from '../../lib/cli/args.ts';
import { type ServeHandle, startServe } from '../../lib/cli/serve.ts';
import { CONSOLE_SOURCES } from '../../lib/console/sources.ts';
import { launchChromium, type PageRecord, watchPage } from '../support/browser.ts';

const WAIT = { timeout: 90_000 };

/** SPEC 7.1's routes the console may use, and its own files. */
const ALLOWED = [
  /^GET \/servers$/,
  /^GET \/servers\/[^/]+\/heartbeat$/,
  /^GET \/servers\/[^/]+\/operations\/[^/]+$/,
  /^POST \/fleet\/upgrade$/,
  /^GET \/fleet\/operations\/[^/]+$/,
  /^GET \/$/,
  ...Object.keys(CONSOLE_SOURCES).map((name) => new RegExp(`^GET /console/${name.replace('.', '\\.')}$`)),
];

async function waitForJournal(url: string, server: string, id: string): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const journal = (await (await fetch(`${url}/servers/${server}/operations/${id}`)).json()) as {
      status: string;
    };
    if (journal.status !== 'running') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${server} ${id} still running`);
}

/** The text of every cell of the table's body, row by row. */
function tableText(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(`${selector} tbody tr`, (rows) =>
    rows.map((row) =>
      // biome-ignore lint/performance/useDomNodeTextContent: the text as laid out, as a reader sees it
      Array.from(row.children).map((cell) => (cell as HTMLElement).innerText.replace(/\s+/g, ' ').trim()),
    ),
  );
}

/** The text as rendered (what a reader sees, spaced as laid out), whitespace collapsed. */
async function textOf(page: Page, selector: string): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: the text as laid out, as a reader sees it
  return page.$eval(selector, (element) => (element as HTMLElement).innerText.replace(/\s+/g, ' ').trim());
}

/**
 * Watches the element; the function returned resolves once its children have been replaced (by
 * the page's next refresh).
 */
async function watchChildren(page: Page, selector: string): Promise<() => Promise<unknown>> {
  await page.$eval(selector, (element) => {
    document.body.dataset['swapped'] = 'no';
    new MutationObserver(() => {
      document.body.dataset['swapped'] = 'yes';
    }).observe(element, { childList: true });
  });
  return () => page.waitForFunction(() => document.body.dataset['swapped'] === 'yes', WAIT);
}

/** Empties a field, then types into it as a user would. */
async function fill(page: Page, selector: string, text: string): Promise<void> {
  await page.$eval(selector, (input) => {
    (input as HTMLInputElement).value = '';
  });
  await page.type(selector, text);
}

describe('fleet console in chromium', () => {
  let dir = '';
  let shots = '';
  let server: ServeHandle;
  let browser: Browser;
  let page: Page;
  let record: PageRecord;
  let url = '';

  const shoot = async (name: string) => {
    const file = join(shots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`# screenshot: ${file}\n`);
  };
  const assertClean = (what: string) => {
    assert.deepEqual(record.problems, [], `${what}: console errors`);
    assert.deepEqual(record.failed, [], `${what}: failed requests`);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'console-browser-'));
    shots = join(dir, 'screenshots');
    mkdirSync(shots);
    const env = { ...process.env, CLOUDIQ_DEMO_DIR: join(dir, 'demo') };
    const quiet = () => {};
    server = await startServe(parseCli(['serve', '--port', '0']).options, {
      stdout: quiet,
      stderr: quiet,
      env,
      stderrIsTty: false,
    });
    url = server.url;
    // web-1 and web-2 provisioned (healthy), worker-1 left as it came (down): a mixed fleet.
    for (const name of ['web-1', 'web-2']) {
      const answer = await fetch(`${url}/servers/${name}/provision`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ role: 'edge' }),
      });
      assert.equal(answer.status, 202);
      await waitForJournal(url, name, ((await answer.json()) as { operationId: string }).operationId);
    }
    browser = await launchChromium(dir);
    page = await browser.newPage();
    record = watchPage(page);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    // The screenshots stay for people to look at; the rest goes.
    rmSync(join(dir, 'demo'), { recursive: true, force: true });
    rmSync(join(dir, 'chromium-profile'), { recursive: true, force: true });
  });

  it('serves the page at / with a strict Content-Security-Policy', async () => {
    const answer = await fetch(`${url}/`);
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/html/);
    const csp = answer.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(
      (await fetch(`${url}/console/app.js`)).headers.get('content-type'),
      'text/javascript; charset=utf-8',
    );
    assert.equal((await fetch(`${url}/console/nope.js`)).status, 404);
  });

  it('the fleet view shows every demo host with its state, counts and filters; no console error', async () => {
    await page.goto(`${url}/`);
    await page.waitForFunction(
      () =>
        document.querySelectorAll('#fleet-table tbody tr[data-health]:not([data-health="unknown"])')
          .length === 3,
      WAIT,
    );
    const rows = await tableText(page, '#fleet-table');
    assert.deepEqual(
      rows.map((row) => row[0]),
      ['web-1 local', 'web-2 local', 'worker-1 local'],
    );
    const [web1, , worker1] = rows;
    assert.match(web1?.[2] ?? '', /^active$/);
    assert.match(web1?.[3] ?? '', /^edge$/);
    assert.match(web1?.[4] ?? '', /✔ healthy/);
    assert.match(web1?.[5] ?? '', /haproxy/);
    assert.match(web1?.[6] ?? '', /free/);
    assert.match(web1?.[7] ?? '', /server\.provision ✔ succeeded/);
    assert.match(worker1?.[4] ?? '', /✖ down.*haproxy: exec:.*haproxy\.check\.sh \(exited 1\)/);
    assert.equal(await textOf(page, '#fleet-counts'), '✔ 2 healthy ▲ 0 degraded ✖ 1 down ⊘ 0 unreachable');
    await shoot('fleet');

    // A refresh keeps the keyboard focus on the link it was on.
    await page.focus('#fleet-table tr[data-server="web-1"] td:last-child a');
    const refreshed = await watchChildren(page, '#fleet-body');
    await page.$eval('#fleet-refresh', (button) => (button as HTMLButtonElement).click());
    await refreshed();
    assert.equal(
      await page.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-server')),
      'web-1',
    );

    await page.select('#filter-group', 'workers');
    assert.deepEqual(
      (await tableText(page, '#fleet-table')).map((row) => row[0]),
      ['worker-1 local'],
    );
    await page.select('#filter-group', '');
    await page.select('#filter-status', 'healthy');
    assert.deepEqual(
      (await tableText(page, '#fleet-table')).map((row) => row[0]),
      ['web-1 local', 'web-2 local'],
    );
    await page.select('#filter-status', '');

    // Untouched, the view reads the fleet again on its own.
    assert.match(await textOf(page, '#fleet-status'), /^Last read .* UTC · next in 10 s$/);
    const before = await textOf(page, '#fleet-status');
    await (await watchChildren(page, '#fleet-body'))();
    assert.notEqual(await textOf(page, '#fleet-status'), before);
    assertClean('fleet view');
  });

  it('a rollout started from the form shows its targets first, then runs to its end', async () => {
    await page.click('nav a[data-view="rollout"]');
    await page.waitForSelector('#view-rollout:not([hidden])');
    await fill(page, '#rollout-select', 'group:edge');
    await fill(page, '#rollout-product', 'deepfiler');
    await fill(page, '#rollout-version', '3.2.2');
    await fill(page, '#rollout-concurrency', '2');
    await page.waitForFunction(() => document.querySelectorAll('#preview-targets li').length === 2, WAIT);
    assert.deepEqual(
      await page.$$eval('#preview-targets li', (items) => items.map((item) => item.textContent)),
      ['web-1canary', 'web-2'],
    );
    assert.match(
      await textOf(page, '#preview-summary'),
      /^2 host\(s\): 1 canary target\(s\) one by one first/,
    );
    await shoot('rollout-form');

    // web-1's upgrade hook waits for a file, so the run is seen while it runs (restored after).
    const hook = join(dir, 'demo', 'hosts', 'web-1', 'hooks', 'deepfiler.upgrade.sh');
    const release = join(dir, 'release');
    const original = readFileSync(hook, 'utf8');
    writeFileSync(
      hook,
      `#!/bin/sh\necho "upgrading $BOOTSTRAP_PRODUCT to $1"\n` +
        `i=0; while [ ! -f '${release}' ] && [ $i -lt 500 ]; do sleep 0.1; i=$((i+1)); done\n` +
        `echo "$BOOTSTRAP_PRODUCT $1 installed"\n`,
    );
    try {
      await page.click('#rollout-start');
      await page.waitForFunction(() => location.hash.startsWith('#/run/op_'), WAIT);
      await page.waitForSelector('#run-table tr[data-server="web-1"][data-state="running"]', WAIT);
      assert.match(await textOf(page, '#run-status'), /^⟳ running: deepfiler to 3\.2\.2$/);
      assert.deepEqual(await tableText(page, '#run-table'), [
        ['1', 'web-1', 'canary', '⟳ running', '', 'web-1 journal'],
        ['2', 'web-2', 'fleet', '… pending', '', '–'],
      ]);
      assert.match(await textOf(page, '#run-facts'), /Canary stage ⟳ running — 0 of 1 succeeded \(web-1\)/);
      assert.match(await textOf(page, '#run-facts'), /Finished still running/);
      await shoot('rollout-running');

      // A refresh keeps the keyboard focus where it was; the running canary's journal then
      // follows the operation to its end on its own.
      await page.focus('#run-table tr[data-server="web-1"] a');
      await (await watchChildren(page, '#run-body'))();
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'web-1 journal');
      await page.keyboard.press('Enter');
      await page.waitForFunction(
        () => /running/.test(document.querySelector('#operation-status')?.textContent ?? ''),
        WAIT,
      );
      assert.match(await textOf(page, '#operation-facts'), /Finished still running/);
      writeFileSync(release, '');
      await page.waitForSelector('#operation-steps .step[data-state="succeeded"]', WAIT);
      assert.match(await textOf(page, '#operation-status'), /^✔ succeeded: product\.upgrade$/);
      await page.click('#operation-steps summary');
      assert.equal(
        await page.$eval('#operation-steps pre', (pre) => pre.textContent),
        'upgrading deepfiler to 3.2.2\ndeepfiler 3.2.2 installed\n',
      );
      await page.goBack();
    } finally {
      writeFileSync(hook, original);
      writeFileSync(release, '');
    }
    const id = decodeURIComponent((await page.evaluate(() => location.hash)).slice('#/run/'.length));
    await page.waitForFunction(
      () => /succeeded|failed|partial/.test(document.querySelector('#run-status')?.textContent ?? ''),
      WAIT,
    );
    assert.equal(await textOf(page, '#run-status'), '✔ succeeded: deepfiler to 3.2.2');
    const rows = await tableText(page, '#run-table');
    assert.deepEqual(rows, [
      ['1', 'web-1', 'canary', '✔ succeeded', '', 'web-1 journal'],
      ['2', 'web-2', 'fleet', '✔ succeeded', '', 'web-2 journal'],
    ]);
    const facts = await textOf(page, '#run-facts');
    assert.match(facts, /Canary stage ✔ passed — 1 of 1 succeeded/);
    assert.match(facts, /Failures 0 of at most 0 allowed/);
    assert.match(facts, /Skipped none/);
    assert.match(facts, /Summary 2 succeeded, 0 failed, 0 unreachable, 0 skipped of 2/);
    assert.match(facts, /Elapsed \d+s/);
    // The page shows what the API says.
    const run = (await (await fetch(`${url}/fleet/operations/${id}`)).json()) as { status: string };
    assert.equal(run.status, 'succeeded');
    await shoot('rollout-run');
    assertClean('rollout');

    // The fleet view now shows the new version on both hosts.
    await page.click('nav a[data-view="fleet"]');
    await page.waitForFunction(
      () =>
        (document.querySelector('#fleet-table tbody tr[data-server="web-2"]')?.textContent ?? '').includes(
          'deepfiler 3.2.2',
        ),
      WAIT,
    );
  });

  it('keyboard only: the form is filled and submitted; a failed canary shows as failed, its hook output one click away', async () => {
    await page.goto(`${url}/#/fleet`);
    await page.waitForSelector('#view-fleet:not([hidden])');
    // Tab to the Rollout link and follow it, without the mouse.
    for (let tabs = 0; tabs < 10; tabs++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.getAttribute('data-view') === 'rollout')) break;
    }
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Rollout');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'rollout-title', WAIT);
    const visited: string[] = [];
    const typeInto = async (id: string, text: string) => {
      await page.keyboard.press('Tab');
      visited.push(await page.evaluate(() => document.activeElement?.id ?? ''));
      if (text) await page.keyboard.type(text);
      assert.equal(visited.at(-1), id, `Tab order: ${visited.join(' → ')}`);
    };
    await typeInto('rollout-select', 'all');
    await typeInto('rollout-product', 'deepfiler');
    await typeInto('rollout-version', '0.0.0-bad');
    await typeInto('rollout-concurrency', '');
    await typeInto('rollout-errors', '');
    await typeInto('rollout-canary', '');
    await typeInto('rollout-gate', '');
    await typeInto('rollout-start', '');
    await page.waitForFunction(() => document.querySelectorAll('#preview-targets li').length === 3, WAIT);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash.startsWith('#/run/op_'), WAIT);
    await page.waitForFunction(
      () => /failed/.test(document.querySelector('#run-status')?.textContent ?? ''),
      WAIT,
    );
    assert.equal(await textOf(page, '#run-status'), '✖ failed: deepfiler to 0.0.0-bad');
    const rows = await tableText(page, '#run-table');
    assert.deepEqual(rows, [
      [
        '1',
        'web-1',
        'canary',
        '✖ failed',
        'HOOK_FAILED: upgrade hook of deepfiler exited 3',
        'web-1 journal',
      ],
      ['2', 'web-2', 'fleet', '↷ skipped', '', '–'],
      ['3', 'worker-1', 'fleet', '↷ skipped', '', '–'],
    ]);
    const facts = await textOf(page, '#run-facts');
    assert.match(facts, /Canary stage ✖ failed — 0 of 1 succeeded \(web-1\)/);
    assert.match(facts, /Failures 1 of at most 0 allowed — exceeded/);
    assert.match(facts, /Skipped web-2, worker-1/);
    await shoot('rollout-failed');

    // One click (by keyboard: focus the link, Enter) to the failed target's journal.
    await page.focus('#run-table tbody tr[data-server="web-1"] a');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#operation-steps .step[data-state="failed"] pre', { visible: true, ...WAIT });
    assert.match(await textOf(page, '#operation-status'), /^✖ failed: product\.upgrade$/);
    assert.match(
      await textOf(page, '#operation-facts'),
      /HOOK_FAILED \(HTTP|HOOK_FAILED: upgrade hook of deepfiler exited 3/,
    );
    const output = await page.$eval(
      '#operation-steps .step[data-state="failed"] pre',
      (pre) => pre.textContent,
    );
    assert.equal(output, 'upgrading deepfiler to 0.0.0-bad\npackage deepfiler 0.0.0-bad not found\n');
    assert.match(await textOf(page, '#operation-steps h3'), /1\. deepfiler · upgrade ✖ failed exit 3/);
    await shoot('operation');
    assertClean('failed canary');
  });

  it('a run waiting for units of the worker’s concurrency says for what, since when, and who holds them', async () => {
    // `serve` has no pool, so no run of its own waits: the cloud's answer for one is given here.
    const id = 'op_waits_for_units';
    const answer = {
      operationId: id,
      command: 'product.upgrade',
      args: { product: 'deepfiler', version: '3.2.2' },
      status: 'running',
      startedAt: '2026-11-29T12:00:00.000Z',
      failures: 0,
      summary: { total: 40, succeeded: 0, failed: 0, unreachable: 0, skipped: 0 },
      waiting: {
        for: 'concurrency',
        since: '2026-11-29T12:00:05.000Z',
        holders: ['op_rollout_eu', 'op_rollout_us'],
      },
    };
    await page.setRequestInterception(true);
    const respond = (request: {
      url(): string;
      respond(r: object): Promise<void>;
      continue(): Promise<void>;
    }) =>
      void (request.url().endsWith(`/fleet/operations/${id}`)
        ? request.respond({ status: 200, contentType: 'application/json', body: JSON.stringify(answer) })
        : request.continue());
    page.on('request', respond);
    try {
      await page.goto(`${url}/#/run/${id}`);
      await page.waitForFunction(
        () => /Waiting/.test(document.querySelector('#run-facts')?.textContent ?? ''),
        WAIT,
      );
      const facts = await textOf(page, '#run-facts');
      assert.match(facts, /for the worker's concurrency, held by op_rollout_eu, op_rollout_us/);
      assert.match(facts, /no target starts until this run is granted units/);
      await shoot('run-waiting');
    } finally {
      page.off('request', respond);
      await page.setRequestInterception(false);
    }
  });

  it('shows API errors readably, as text, and asks only for public routes', async () => {
    record.clear();
    await page.goto(`${url}/#/operation/web-1/${encodeURIComponent('<img src=x id=injected>')}`);
    await page.waitForSelector('#operation-error:not([hidden])', WAIT);
    const error = await textOf(page, '#operation-error');
    assert.match(
      error,
      /^Cannot read this operation — INVALID_REQUEST \(HTTP 400\): invalid operationId "<img src=x id=injected>" in the path/,
    );
    assert.equal(await page.$('#injected'), null, 'API text became markup');

    await page.goto(`${url}/#/rollout`);
    await page.waitForSelector('#view-rollout:not([hidden])');
    await fill(page, '#rollout-select', 'web-1');
    await fill(page, '#rollout-product', 'deepfiler');
    await fill(page, '#rollout-version', 'no spaces allowed');
    await page.click('#rollout-start');
    await page.waitForSelector('#rollout-error:not([hidden])', WAIT);
    assert.match(await textOf(page, '#rollout-error'), /^Not started — INVALID_REQUEST \(HTTP 400\): /);
    assert.equal(
      await page.evaluate(() => location.hash),
      '#/rollout',
      'a refused rollout stays on the form',
    );

    await fill(page, '#rollout-select', 'web-9');
    await page.click('#rollout-start');
    await page.waitForFunction(
      () => /UNKNOWN_SERVER/.test(document.querySelector('#rollout-error')?.textContent ?? ''),
      WAIT,
    );
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'rollout-select');
    assert.equal(await page.$eval('#rollout-select', (input) => input.getAttribute('aria-invalid')), 'true');

    // A token given under "API access" goes with every API request, as a bearer token.
    const bearer: string[] = [];
    const listen = (request: { headers(): Record<string, string>; url(): string }) => {
      if (request.url().endsWith('/servers')) bearer.push(request.headers()['authorization'] ?? '');
    };
    page.on('request', listen);
    await page.click('.access summary');
    await page.type('#token', 'eyJ.test.token');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#preview-summary') !== null, WAIT);
    await page.click('#token-forget');
    await page.click('nav a[data-view="fleet"]');
    await page.waitForSelector('#view-fleet:not([hidden])');
    await page.waitForFunction(
      () => /Last read/.test(document.querySelector('#fleet-status')?.textContent ?? ''),
      WAIT,
    );
    page.off('request', listen);
    assert.ok(bearer.length >= 2, `requests seen: ${bearer.length}`);
    assert.equal(bearer[0], 'Bearer eyJ.test.token');
    assert.equal(bearer.at(-1), '', 'a forgotten token is not sent');

    const origin = new URL(url).origin;
    for (const line of record.requests) {
      const [method = '', address = ''] = line.split(' ');
      const parsed = new URL(address);
      assert.equal(parsed.origin, origin, `a request left the server: ${line}`);
      const route = `${method} ${decodeURIComponent(parsed.pathname)}`;
      assert.ok(
        ALLOWED.some((pattern) => pattern.test(route)),
        `not a public route: ${route}`,
      );
    }
  });
});
