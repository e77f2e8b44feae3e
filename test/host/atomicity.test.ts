// Atomicity (SPEC 2.2): the host program kills itself with -9 at each named step of a write and of a
// provision (BOOTSTRAP_FAULT_AT); every state file is then the old one or the new one, byte for byte,
// the journal says what happened, and the next operation is not blocked.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseIni } from '../../lib/config/ini-file.ts';
import { BootstrapError } from '../../lib/errors.ts';
import type { Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { parseProductIni, renderProductIni } from '../../lib/operations/state.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { readIfExists } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const sandboxes: Sandbox[] = [];
after(() => {
  for (const sandbox of sandboxes) sandbox.cleanup();
});

const MODES = { flock: {}, 'no-flock': { BOOTSTRAP_NO_FLOCK: '1' } } as const;

/** A product file that is complete: it reads, and re-renders to exactly its own bytes. */
function wholeProductFile(path: string): ReturnType<typeof parseProductIni> {
  const text = readFileSync(path, 'utf8');
  const parsed = parseProductIni(text);
  assert.equal(renderProductIni(parsed), text, `${path} is torn`);
  return parsed;
}

/** The state files of SPEC 2.2 (temp files of a killed writer are not state files). */
function stateFiles(sandbox: Sandbox): Record<string, string | null> {
  const products = join(sandbox.stateDir, 'products');
  const out: Record<string, string | null> = {
    'server.ini': readIfExists(join(sandbox.stateDir, 'server.ini')),
  };
  for (const name of readdirSync(products).filter((n) => n.endsWith('.ini') && !n.startsWith('.')))
    out[`products/${name}`] = readFileSync(join(products, name), 'utf8');
  return out;
}

for (const [mode, modeEnv] of Object.entries(MODES)) {
  describe(`kill -9 inside a write (product.set, ${mode})`, () => {
    for (const point of ['write:temp', 'write:synced', 'write:renamed']) {
      it(`at ${point}: the file is the old one or the new one, and the next write goes through`, async () => {
        const sandbox = createSandbox();
        sandboxes.push(sandbox);
        const host = sandbox.host(createLocalTransport({ env: modeEnv }));
        await runCommand(host, {
          command: 'product.set',
          product: 'haproxy',
          values: { maxconn: 'old', motd: 'o' },
        });
        const file = join(sandbox.stateDir, 'products', 'haproxy.ini');
        const old = readFileSync(file, 'utf8');
        const faulty = sandbox.host(createLocalTransport({ env: { ...modeEnv, BOOTSTRAP_FAULT_AT: point } }));
        const error = await runCommand(faulty, {
          command: 'product.set',
          product: 'haproxy',
          values: { maxconn: 'new', frontend_port: '80' },
        }).then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(error instanceof BootstrapError && error.code === 'INTERNAL', String(error));
        const now = wholeProductFile(file);
        if (point === 'write:renamed')
          assert.deepEqual({ ...now.config }, { maxconn: 'new', motd: 'o', frontend_port: '80' });
        else assert.equal(readFileSync(file, 'utf8'), old);

        const next = (await runCommand(host, {
          command: 'product.set',
          product: 'haproxy',
          values: { motd: 'after' },
        })) as { config: Record<string, string> };
        assert.equal(next.config['motd'], 'after');
        assert.equal(wholeProductFile(file).config['motd'], 'after');
      });
    }
  });

  describe(`kill -9 at each step of a provision (${mode})`, () => {
    const points = [
      'write:temp',
      'write:synced',
      'write:renamed',
      'long:started',
      'long:before-hook-0',
      'long:after-hook-0',
      'long:before-hook-1',
      'long:after-hook-1',
    ];
    for (const point of points) {
      it(`at ${point}: state files old or new, the journal says what happened, nothing stays locked`, async () => {
        const sandbox = createSandbox();
        sandboxes.push(sandbox);
        const host = sandbox.host(createLocalTransport({ env: modeEnv }));
        await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '1' } });
        await runCommand(host, { command: 'product.set', product: 'deepfiler', values: { threads: '2' } });
        await runCommand(host, { command: 'server.mode', mode: 'drain' });
        const before = stateFiles(sandbox);
        const id = `op-fault-${point.replace(':', '-')}`;
        const faulty = sandbox.host(createLocalTransport({ env: { ...modeEnv, BOOTSTRAP_FAULT_AT: point } }));
        const outcome = await runCommand(faulty, {
          command: 'server.provision',
          role: 'edge',
          operationId: id,
        }).then(
          (journal) => journal as Journal,
          (e: unknown) => e,
        );

        // How far it got: the first write is the journal's; hook N runs between before- and after-hook-N.
        const hooksDone =
          { 'long:after-hook-0': 1, 'long:before-hook-1': 1, 'long:after-hook-1': 2 }[point] ?? 0;
        const statuses: Record<string, string | undefined> = {
          'long:before-hook-0': 'provisioning',
          'long:after-hook-0': 'provisioned',
          'long:before-hook-1': 'provisioned',
          'long:after-hook-1': 'provisioned',
        };
        const deepStatus: Record<string, string | undefined> = {
          'long:before-hook-1': 'provisioning',
          'long:after-hook-1': 'provisioned',
        };
        const after = stateFiles(sandbox);
        assert.equal(after['server.ini'], before['server.ini'], 'server.ini is written last');
        for (const [product, status] of [
          ['haproxy', statuses[point]],
          ['deepfiler', deepStatus[point]],
        ] as const) {
          const key = `products/${product}.ini`;
          if (status === undefined) assert.equal(after[key], before[key], `${key} changed`);
          else {
            const file = wholeProductFile(join(sandbox.stateDir, key));
            assert.equal(file.state.status, status);
            assert.equal(file.state.last_operation, id);
            assert.deepEqual(file.config, parseProductIni(before[key] ?? null).config);
          }
        }
        assert.equal(existsSync(sandbox.hookEnvFile('haproxy', 'provision')), hooksDone >= 1);
        assert.equal(existsSync(sandbox.hookEnvFile('deepfiler', 'provision')), hooksDone >= 2);

        const journalFile = join(sandbox.stateDir, 'operations', `${id}.json`);
        if (point === 'write:temp' || point === 'write:synced') {
          assert.ok(outcome instanceof BootstrapError && outcome.code === 'INTERNAL', String(outcome));
          assert.equal(existsSync(journalFile), false);
        } else {
          JSON.parse(readFileSync(journalFile, 'utf8'));
          const journal = (await runCommand(host, { command: 'operation.get', operationId: id })) as Journal;
          assert.equal(journal.status, 'failed');
          assert.equal(journal.error?.code, 'HOOK_FAILED');
          assert.match(journal.error?.message ?? '', new RegExp(`pid ${journal.pid}`));
          assert.match(journal.finishedAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
          if (!(outcome instanceof Error))
            assert.deepEqual({ ...(outcome as Journal), finishedAt: null }, { ...journal, finishedAt: null });
          assert.deepEqual(
            journal.steps.map((s) => [s.product, s.action, s.exitCode]),
            [
              ['haproxy', 'provision', 0],
              ['deepfiler', 'provision', 0],
            ].slice(0, hooksDone),
            'the journal lists the steps done',
          );
        }

        const again = (await runCommand(host, { command: 'server.provision', role: 'edge' })) as Journal;
        assert.equal(again.status, 'succeeded');
        assert.equal(again.staleLockRemoved?.operation, id);
        assert.equal(again.staleLockRemoved?.command, 'server.provision');
        const server = parseIni(readFileSync(join(sandbox.stateDir, 'server.ini'), 'utf8'))['server'];
        assert.equal(server?.['role'], 'edge');
        assert.equal(server?.['last_operation'], again.id);
      });
    }
  });
}
