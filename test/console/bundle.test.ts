// The console as the cloud serves it: the console function's esbuild bundle (scripts/bundle.mjs),
// built into a temp dir and run in a fresh Node.js away from the sources and with no environment
// (no inventory, no secret), answers `GET /` and each `/console/` file from its own bytes, with
// the same headers as `serve`, and anything else as the API answers it (SPEC 2.6's shape).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildHttpEvent } from '../../lib/api/http.ts';
import {
  CONSOLE_GATEWAY_PATHS,
  CONSOLE_PREFIX,
  CONSOLE_ROUTES,
  CONTENT_SECURITY_POLICY,
} from '../../lib/console/routes.ts';
import { CONSOLE_SOURCES } from '../../lib/console/sources.ts';
import { bundle } from '../../scripts/bundle.mjs';
import { runInFreshNode } from '../support/fresh-node.ts';

// Runs in the child: imports the bundle, answers each event given on the command line.
const LOADER = `
import { pathToFileURL } from 'node:url';
const [bundlePath, eventsJson] = process.argv.slice(2);
const mod = await import(pathToFileURL(bundlePath).href);
const answers = [];
for (const event of JSON.parse(eventsJson)) answers.push(await mod.handler(event, {}));
process.stdout.write('\\n' + JSON.stringify(answers) + '\\n');
`;

interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

describe('the console in its own function’s bundle', () => {
  let dir = '';
  let file = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'console-bundle-'));
    const written = await bundle({ outdir: dir, cli: false, functions: ['console'] });
    file = written.find((entry) => entry.name === 'console')?.file ?? '';
    assert.ok(file, 'no console bundle');
    writeFileSync(join(dir, 'loader.mjs'), LOADER);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the page and every file from the bundle itself, with the CSP', () => {
    assert.ok(
      !readFileSync(file, 'utf8').includes("new URL('./assets/'"),
      'the bundle reads assets from disk',
    );
    const names = Object.keys(CONSOLE_SOURCES);
    assert.ok(names.includes('index.html') && names.includes('app.js'));
    assert.ok(!names.some((name) => name.endsWith('.d.ts')), 'type declarations are not served');
    const paths = names.map((name) => (name === 'index.html' ? '/' : `${CONSOLE_PREFIX}${name}`));
    const events = [...paths, '/console/missing.js'].map((url) => buildHttpEvent({ method: 'GET', url }));
    const run = runInFreshNode(dir, [join(dir, 'loader.mjs'), file, JSON.stringify(events)], {});
    assert.equal(run.status, 0, run.stderr);
    const answers = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '[]') as Answer[];
    for (const [index, name] of names.entries()) {
      const answer = answers[index];
      assert.equal(answer?.statusCode, 200, `${name}: ${answer?.body}`);
      assert.equal(answer?.body, CONSOLE_SOURCES[name], `${name} differs in the bundle`);
      assert.equal(answer?.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
      assert.equal(answer?.headers['x-content-type-options'], 'nosniff');
    }
    assert.match(answers[names.indexOf('index.html')]?.headers['content-type'] ?? '', /^text\/html/);
    assert.equal(answers.at(-1)?.statusCode, 404);
    assert.deepEqual(JSON.parse(answers.at(-1)?.body ?? '{}'), {
      code: 'INVALID_REQUEST',
      message: 'no route GET /console/missing.js',
      details: { reason: 'NO_ROUTE' },
    });
  });

  it('takes a named stage off the path, answers another method 405, and refuses what is not a 2.0 event', () => {
    const staged = buildHttpEvent({ method: 'GET', url: '/prod/console/app.js' });
    staged.requestContext['stage'] = 'prod';
    const events = [staged, buildHttpEvent({ method: 'POST', url: '/', body: '{}' }), { rawPath: '/' }];
    const run = runInFreshNode(dir, [join(dir, 'loader.mjs'), file, JSON.stringify(events)], {});
    assert.equal(run.status, 0, run.stderr);
    const [page, post, notAnEvent] = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '[]') as Answer[];
    assert.equal(page?.statusCode, 200, page?.body);
    assert.equal(page?.body, CONSOLE_SOURCES['app.js']);
    assert.equal(post?.statusCode, 405);
    assert.equal(post?.headers['allow'], 'GET');
    assert.equal(notAnEvent?.statusCode, 400);
    assert.equal((JSON.parse(notAnEvent?.body ?? '{}') as { code?: string }).code, 'INVALID_REQUEST');
  });

  it('the gateway routes infra declares for the page cover every file the handler serves', () => {
    const templates = CONSOLE_GATEWAY_PATHS.map(
      (path) => new RegExp(`^${path.replace(/\{[a-z]+\}/g, '[^/]+')}$`),
    );
    for (const route of CONSOLE_ROUTES) {
      assert.equal(route.method, 'GET');
      assert.ok(
        templates.some((template) => template.test(route.path)),
        `${route.path} has no gateway route`,
      );
    }
    assert.equal(CONSOLE_ROUTES.length, Object.keys(CONSOLE_SOURCES).length);
  });
});
