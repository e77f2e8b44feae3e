// A long command is one row and one operation file too: `product.reprovision` (the README's
// long example under "Adding a command") exists only here, in a copy of the command table, and
// the CLI's parser, refusals and help, the API's 202 route, the run's request schema and the
// journal all take it; it runs its hook on a real sandbox host under the lock, with a journal.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as z from 'zod';
import { createApiHandler } from '../../lib/api/handler.ts';
import { buildHttpEvent } from '../../lib/api/http.ts';
import { allRoutes } from '../../lib/api/local-routes.ts';
import { parseCli, toRequest } from '../../lib/cli/args.ts';
import { helpFor, mainHelp } from '../../lib/cli/help.ts';
import { assertName } from '../../lib/config/names.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import { longRequestSchema, longRequestSchemaOf, type RunJob } from '../../lib/fleet/job.ts';
import { type CommandTable, defineCommand, defineRoute } from '../../lib/operations/command-row.ts';
import { hookStep } from '../../lib/operations/hook-steps.ts';
import { readJournal } from '../../lib/operations/journal.ts';
import type { LongStart } from '../../lib/operations/long.ts';
import { COMMAND_TABLE, longCommand } from '../../lib/operations/registry.ts';
import { expect } from '../../lib/operations/snapshot.ts';
import { present } from '../../lib/optional.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { CLI_OPTIONS, refusal } from '../support/command-line.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

// lib/operations/reprovision.ts: what the runner runs
export function reprovisionRequest(args: { product: string; operationId?: string }): LongStart {
  assertName('product', args.product);
  return {
    command: 'product.reprovision',
    ...present({ operationId: args.operationId }),
    stated: { product: args.product },
    plan: (host, snapshot, id) => ({
      steps: [hookStep(host, snapshot, id, { product: args.product, action: 'provision' })], // refuses an unknown product
      args: { product: args.product },
      expect: expect(snapshot, 'config', `product:${args.product}`),
    }),
  };
}

// lib/operations/registry.ts: its row, and `productReprovision` in COMMAND_TABLE
const productReprovision = defineCommand({
  name: 'product.reprovision',
  args: z.strictObject({ product: z.string(), operationId: z.string().exactOptional() }),
  ...longCommand(reprovisionRequest),
  cli: {
    usage: 'PRODUCT',
    arity: [1, 1],
    summary: "run one product's provision hook again",
    help: "Runs the product's provision hook again, under the lock. Waits for the end and prints the journal.",
    parse: ([product], flags) => ({ product: product!, ...present({ operationId: flags.operationId }) }),
  },
  routes: [
    defineRoute({
      method: 'POST',
      path: '/servers/{server}/products/{product}/reprovision',
      body: { fields: {} },
      args: ({ path }) => ({ product: path('product') }),
    }),
  ],
});

const TABLE: CommandTable = [...COMMAND_TABLE, productReprovision];
describe('a long command is one row and one operation file', () => {
  it('is the example the README shows under "Adding a command"', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.split('### Adding a command')[1]?.split('\n### ')[0] ?? '';
    const test = readFileSync(new URL(import.meta.url), 'utf8');
    // Each piece as code, without comments and layout.
    const pieceIn = (text: string, start: string) => {
      const from = text.indexOf(start);
      const piece = from < 0 ? '' : text.slice(from, text.indexOf('\n}', from) + 2);
      return piece.replace(/\/\/.*$/gm, '').replace(/\s+/g, '');
    };
    for (const start of [
      'export function reprovisionRequest(',
      'const productReprovision = defineCommand(',
    ]) {
      assert.notEqual(pieceIn(section, start), '', start);
      assert.equal(pieceIn(section, start), pieceIn(test, start), start);
    }
  });

  it('the CLI parses it, takes --detach and --operation-id, and lists it in the help', () => {
    assert.deepEqual(
      toRequest('product.reprovision', ['haproxy'], { ...CLI_OPTIONS, operationId: 'op-7' }, TABLE),
      {
        command: 'product.reprovision',
        product: 'haproxy',
        operationId: 'op-7',
      },
    );
    const line = parseCli(['product.reprovision', 'haproxy', '--detach', '--operation-id', 'op-7'], TABLE);
    assert.equal(line.options.detach, true);
    const role = refusal(() => parseCli(['product.reprovision', 'haproxy', '--role', 'edge'], TABLE));
    assert.match(role.message, /^--role does not apply to product\.reprovision/);
    // The shipped table's refusal lists it among the long commands only once it is a row.
    const detach = refusal(() => parseCli(['product.get', 'haproxy', '--detach'], TABLE));
    assert.match(
      detach.message,
      /only server\.provision, product\.upgrade and product\.reprovision run long/,
    );
    const shipped = refusal(() => parseCli(['product.get', 'haproxy', '--detach']));
    assert.match(shipped.message, /only server\.provision and product\.upgrade run long/);
    assert.ok(
      mainHelp(TABLE).includes("product.reprovision PRODUCT       run one product's provision hook again"),
    );
    assert.match(helpFor('product.reprovision', TABLE), /--detach[\s\S]*--operation-id ID/);
    assert.ok(!mainHelp().includes('product.reprovision'));
  });

  it("the runs' request schema is made from the long rows", () => {
    const request = { command: 'product.reprovision', product: 'haproxy' };
    assert.deepEqual(longRequestSchemaOf(TABLE).parse(request), request);
    assert.equal(longRequestSchema.safeParse(request).success, false);
    // Each member is its row's strict arguments, without the operation id the job carries.
    assert.equal(longRequestSchemaOf(TABLE).safeParse({ ...request, operationId: 'op-1' }).success, false);
    assert.equal(longRequestSchemaOf(TABLE).safeParse({ ...request, role: 'edge' }).success, false);
    assert.equal(longRequestSchemaOf(TABLE).safeParse({ command: 'product.reprovision' }).success, false);
    assert.equal(
      longRequestSchemaOf(TABLE).safeParse({ command: 'product.get', product: 'x' }).success,
      false,
    );
  });

  it("the journal takes any command's name, and only a name", () => {
    const journal = {
      id: 'op-1',
      command: 'product.reprovision',
      args: { product: 'haproxy' },
      status: 'succeeded',
      pid: 1,
      startedAt: '2026-01-01T00:00:00Z',
      finishedAt: '2026-01-01T00:00:01Z',
      error: null,
      steps: [],
    };
    const read = (command: string) =>
      readJournal('web-1', { alive: false, text: JSON.stringify({ ...journal, command }) });
    assert.equal(read('product.reprovision').command, 'product.reprovision');
    for (const bad of ['rm -rf /', 'product', 'Product.Get', 'product.get\n']) {
      assert.throws(() => read(bad), { code: 'INTERNAL', message: /malformed journal/ }, JSON.stringify(bad));
    }
  });

  describe('through the API, on a real host', () => {
    let sandbox: Sandbox;
    before(() => {
      sandbox = createSandbox();
    });
    after(() => sandbox.cleanup());

    it('answers 202, runs the hook under the lock with a journal, and hands its run a valid request', async () => {
      const jobs: RunJob[] = [];
      const fleet = createStaticFleet([
        { groups: ['edge'], target: sandbox.host(createLocalTransport({ target: 'web-1' }), 'web-1') },
      ]);
      const handler = createApiHandler(
        { fleet, dispatch: async (job) => void jobs.push(job) },
        { routes: allRoutes(TABLE) },
      );
      const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
        const event = buildHttpEvent({
          method,
          url,
          ...present({ body: body === undefined ? undefined : JSON.stringify(body) }),
        });
        const result = await handler(event);
        return { status: result.statusCode, body: JSON.parse(result.body) };
      };
      const started = await call('POST', '/servers/web-1/products/haproxy/reprovision', {
        operationId: 'reprov-1',
      });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      assert.equal(started.body.operationId, 'reprov-1');
      assert.equal(jobs.length, 1);
      const job = jobs[0]!;
      assert.equal(job.kind, 'server');
      if (job.kind !== 'server') return;
      assert.deepEqual(job.request, { command: 'product.reprovision', product: 'haproxy' });
      assert.deepEqual(longRequestSchemaOf(TABLE).parse(job.request), job.request);

      let journal = (await call('GET', '/servers/web-1/operations/reprov-1')).body;
      for (let n = 0; journal.status === 'running' && n < 600; n++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        journal = (await call('GET', '/servers/web-1/operations/reprov-1')).body;
      }
      assert.equal(journal.status, 'succeeded', JSON.stringify(journal));
      assert.equal(journal.command, 'product.reprovision');
      assert.deepEqual(journal.args, { product: 'haproxy' });
      assert.deepEqual(
        journal.steps.map((s: { product: string; action: string }) => `${s.product}.${s.action}`),
        ['haproxy.provision'],
      );
      // The hook really ran, with its operation's environment, and the product's state says so.
      const env = readFileSync(sandbox.hookEnvFile('haproxy', 'provision'), 'utf8');
      assert.match(env, /^BOOTSTRAP_COMMAND=product\.reprovision$/m);
      assert.match(env, /^BOOTSTRAP_OPERATION_ID=reprov-1$/m);
      const product = await call('GET', '/servers/web-1/products/haproxy');
      assert.equal(product.body.state.status, 'provisioned', JSON.stringify(product.body));
      assert.equal(product.body.state.last_operation, 'reprov-1');

      // The same id again is the same operation; with other arguments it is refused.
      const again = await call('POST', '/servers/web-1/products/haproxy/reprovision', {
        operationId: 'reprov-1',
      });
      assert.equal(again.status, 202);
      const other = await call('POST', '/servers/web-1/products/deepfiler/reprovision', {
        operationId: 'reprov-1',
      });
      assert.equal(other.status, 400);
      assert.equal(other.body.code, 'INVALID_REQUEST');
      // The shipped table has no such route.
      const shipped = await createApiHandler({ fleet, dispatch: async () => {} })(
        buildHttpEvent({ method: 'POST', url: '/servers/web-1/products/haproxy/reprovision', body: '{}' }),
      );
      assert.equal(shipped.statusCode, 404);
    });
  });
});
