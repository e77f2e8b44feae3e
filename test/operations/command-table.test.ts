// Adding a command is one row in the command table: a copy of the table with one more row
// (`server.uptime`, the README's "Adding a command" example) is seen by the CLI's parser, its
// refusals, its help and its output, and by the API's router, which runs it on a real sandbox
// host; the table as shipped knows nothing of it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as z from 'zod';
import { createApiHandler } from '../../lib/api/handler.ts';
import { buildHttpEvent } from '../../lib/api/http.ts';
import { allRoutes } from '../../lib/api/local-routes.ts';
import { API_ROUTE_KEYS, apiRoutes } from '../../lib/api/routes.ts';
import { parseCli, toRequest } from '../../lib/cli/args.ts';
import { helpFor, mainHelp } from '../../lib/cli/help.ts';
import { formatHuman } from '../../lib/cli/output.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import { type CommandTable, defineCommand, defineRoute } from '../../lib/operations/command-row.ts';
import { COMMAND_TABLE, LONG_COMMANDS, MUTATING_COMMANDS } from '../../lib/operations/registry.ts';
import { readSnapshot } from '../../lib/operations/snapshot.ts';
import { present } from '../../lib/optional.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { CLI_OPTIONS, refusal } from '../support/command-line.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

/** The README's example row, as written there. */
const serverUptime = defineCommand({
  name: 'server.uptime',
  args: z.strictObject({ unit: z.enum(['s', 'min']).exactOptional() }),
  mutates: 'never',
  long: false,
  run: async (host, { unit }, options) => {
    const seconds = (await readSnapshot(host, {}, options)).answer.facts.uptime ?? 0;
    return unit === 'min' ? { uptime: Math.floor(seconds / 60), unit } : { uptime: seconds, unit: 's' };
  },
  cli: {
    usage: '[s|min]',
    arity: [0, 1],
    summary: 'how long the server has been up',
    help: 'Prints how long the server has been up, in seconds or minutes.',
    parse: ([unit]) => present({ unit: unit as 's' | 'min' | undefined }),
  },
  text: (answer) => `up ${answer.uptime} ${answer.unit}`,
  line: (answer) => `${answer.uptime} ${answer.unit}`,
  routes: [
    defineRoute({
      method: 'GET',
      path: '/servers/{server}/uptime',
      query: ['unit'],
      args: ({ query }) => present({ unit: query['unit'] as 's' | 'min' | undefined }),
    }),
  ],
});

const TABLE: CommandTable = [...COMMAND_TABLE, serverUptime];

describe('the command table', () => {
  it('derives what the CLI and the fleet know of commands from its rows', () => {
    assert.deepEqual(
      COMMAND_TABLE.map((row) => row.name),
      [
        'product.get',
        'product.set',
        'server.mode',
        'server.provision',
        'product.upgrade',
        'heartbeat.get',
        'heartbeat.appstack',
        'operation.get',
      ],
    );
    assert.deepEqual([...MUTATING_COMMANDS], ['product.set', 'server.provision', 'product.upgrade']);
    assert.deepEqual([...LONG_COMMANDS], ['server.provision', 'product.upgrade']);
    // Every route of a row is one of the API's route keys, which infra declares.
    const keys = API_ROUTE_KEYS.map((r) => `${r.method} ${r.path}`);
    for (const row of COMMAND_TABLE)
      for (const route of row.routes) assert.ok(keys.includes(`${route.method} ${route.path}`), row.name);
  });

  it('is the row the README shows under "Adding a command"', () => {
    // The row as code, without comments and layout.
    const rowIn = (text: string) =>
      (/const serverUptime = defineCommand\(\{[\s\S]*?\n\}\);/.exec(text)?.[0] ?? '')
        .replace(/\/\/.*$/gm, '')
        .replace(/\s+/g, '');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.split('### Adding a command')[1]?.split('\n### ')[0] ?? '';
    const test = readFileSync(new URL(import.meta.url), 'utf8');
    assert.notEqual(rowIn(section), '');
    assert.equal(rowIn(section), rowIn(test));
  });

  it('a new row is parsed, refused where a flag does not apply, and unknown to the shipped table', () => {
    assert.deepEqual(toRequest('server.uptime', ['min'], CLI_OPTIONS, TABLE), {
      command: 'server.uptime',
      unit: 'min',
    });
    assert.deepEqual(toRequest('server.uptime', [], CLI_OPTIONS, TABLE), { command: 'server.uptime' });
    const arity = refusal(() => toRequest('server.uptime', ['s', 'x'], CLI_OPTIONS, TABLE));
    assert.equal(arity.message, 'usage: cloudiq-bootstrap server.uptime [s|min]');
    const lock = refusal(() => parseCli(['server.uptime', '--wait-lock', '3'], TABLE));
    assert.equal(
      lock.message,
      '--wait-lock does not apply to server.uptime: only a change takes the lock (product.set, server.mode MODE, server.provision, product.upgrade); usage: cloudiq-bootstrap server.uptime [s|min]',
    );
    const unknown = refusal(() => toRequest('server.uptime', [], CLI_OPTIONS));
    assert.equal(unknown.code, 'INVALID_REQUEST');
    assert.equal(unknown.message, 'unknown command "server.uptime"; see --help');
  });

  it('a new row has its help line, its own help and its output', () => {
    assert.ok(
      mainHelp(TABLE).includes(
        '\n  operation.get ID                  the journal of an operation\n  server.uptime [s|min]             how long the server has been up\n  serve [--port 3000]',
      ),
    );
    assert.ok(!mainHelp().includes('server.uptime'));
    assert.match(
      helpFor('server.uptime', TABLE),
      /^cloudiq-bootstrap server\.uptime \[s\|min\]\n\nPrints how long the server has been up, in seconds or minutes\.\n\nTargets/,
    );
    assert.equal(helpFor('server.uptime'), mainHelp());
    assert.equal(formatHuman('server.uptime', { uptime: 7, unit: 'min' }, TABLE), 'up 7 min');
  });

  describe('through the API', () => {
    let sandbox: Sandbox;
    before(() => {
      sandbox = createSandbox();
    });
    after(() => sandbox.cleanup());

    const call = async (routes: ReturnType<typeof allRoutes> | undefined, url: string) => {
      const fleet = createStaticFleet([
        { groups: ['edge'], target: sandbox.host(createLocalTransport({ target: 'web-1' }), 'web-1') },
      ]);
      const handler = createApiHandler({ fleet, dispatch: async () => {} }, present({ routes }));
      const result = await handler(buildHttpEvent({ method: 'GET', url }));
      return { status: result.statusCode, body: JSON.parse(result.body) };
    };

    it('routes a new row and runs it on the host', async () => {
      const routes = allRoutes(TABLE);
      assert.ok(apiRoutes(TABLE).some((r) => r.method === 'GET' && r.path === '/servers/{server}/uptime'));
      const seconds = await call(routes, '/servers/web-1/uptime');
      assert.equal(seconds.status, 200, JSON.stringify(seconds.body));
      assert.equal(seconds.body.unit, 's');
      assert.ok(
        Number.isInteger(seconds.body.uptime) && seconds.body.uptime > 0,
        JSON.stringify(seconds.body),
      );
      const minutes = await call(routes, '/servers/web-1/uptime?unit=min');
      assert.equal(minutes.body.unit, 'min');
      assert.equal(minutes.body.uptime, Math.floor(seconds.body.uptime / 60));
      // The row's zod arguments refuse what its type does not allow, before the host is asked.
      const bad = await call(routes, '/servers/web-1/uptime?unit=hours');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'INVALID_REQUEST');
      const unknownServer = await call(routes, '/servers/web-9/uptime');
      assert.equal(unknownServer.body.code, 'UNKNOWN_SERVER');
      // The shipped table has no such route.
      const shipped = await call(undefined, '/servers/web-1/uptime');
      assert.equal(shipped.status, 404);
      assert.equal(shipped.body.details.reason, 'NO_ROUTE');
    });
  });
});
