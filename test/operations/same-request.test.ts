// The one rule for an operation id used again (lib/operations/same-request.ts), as the CLI, the
// API and the runs' claims apply it: the command first, then each argument the request states
// against the recorded one; what either side leaves out (provision's role) states nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BootstrapError } from '../../lib/errors.ts';
import { assertSameRequest, requestDifference } from '../../lib/operations/same-request.ts';

const provision = (role?: string) => ({
  command: 'server.provision',
  args: role === undefined ? {} : { role },
});
const upgrade = (product: string, version: string) => ({
  command: 'product.upgrade',
  args: { product, version },
});

describe('requestDifference and assertSameRequest', () => {
  it('the same command and arguments are the same request', () => {
    assert.equal(requestDifference(upgrade('deepfiler', '3.2.1'), upgrade('deepfiler', '3.2.1')), undefined);
    assert.equal(requestDifference(provision('edge'), provision('edge')), undefined);
    assertSameRequest('op-1', upgrade('deepfiler', '3.2.1'), upgrade('deepfiler', '3.2.1'));
  });

  it('another command differs, whatever its arguments', () => {
    assert.deepEqual(requestDifference(provision('edge'), upgrade('deepfiler', '3.2.1')), {
      differs: 'command',
      text: 'it names product.upgrade {"product":"deepfiler","version":"3.2.1"}, not server.provision',
    });
    assert.equal(requestDifference(provision(), upgrade('deepfiler', '3.2.1'))?.differs, 'command');
  });

  it('another product or version differs, naming it', () => {
    assert.deepEqual(requestDifference(upgrade('haproxy', '3.2.1'), upgrade('deepfiler', '3.2.1')), {
      differs: 'product',
      text: 'product "deepfiler", not "haproxy"',
    });
    assert.deepEqual(requestDifference(upgrade('deepfiler', '3.2.2'), upgrade('deepfiler', '3.2.1')), {
      differs: 'version',
      text: 'version "3.2.1", not "3.2.2"',
    });
  });

  it('a role left out states nothing: it matches the recorded one, and a record without one matches a named role', () => {
    assert.equal(requestDifference(provision(), provision('edge')), undefined);
    assert.equal(
      requestDifference({ command: 'server.provision', args: { role: undefined } }, provision('edge')),
      undefined,
    );
    // A claim of a request that left it out: which role that was is the host's journal to say.
    assert.equal(requestDifference(provision('edge'), provision()), undefined);
  });

  it('another role differs; the refusal names the id, the host and what differs', () => {
    assert.deepEqual(requestDifference(provision('worker'), provision('edge')), {
      differs: 'role',
      text: 'role "edge", not "worker"',
    });
    // A journal as recorded: only its command and arguments are what the id names.
    const journal = { id: 'deploy-42', status: 'succeeded', ...provision('edge') };
    assert.throws(
      () => assertSameRequest('deploy-42', provision('worker'), journal, 'web-1'),
      (error: BootstrapError) => {
        assert.equal(error.code, 'INVALID_REQUEST');
        assert.equal(
          error.message,
          'web-1: operation id deploy-42 is already used by another request (role "edge", not "worker"); give a new id',
        );
        assert.deepEqual(error.details, {
          server: 'web-1',
          operationId: 'deploy-42',
          existing: { command: 'server.provision', args: { role: 'edge' } },
          differs: 'role',
        });
        return true;
      },
    );
  });

  it('a fleet run and one server’s operation, or two servers, differ before the command', () => {
    const onWeb1 = { kind: 'server' as const, server: 'web-1', ...upgrade('deepfiler', '3.2.1') };
    const fleet = { kind: 'fleet' as const, ...upgrade('deepfiler', '3.2.1') };
    assert.equal(requestDifference(onWeb1, fleet)?.differs, 'kind');
    assert.equal(requestDifference(fleet, onWeb1)?.differs, 'kind');
    assert.deepEqual(requestDifference({ ...onWeb1, server: 'web-2' }, onWeb1), {
      differs: 'server',
      text: 'it names product.upgrade {"product":"deepfiler","version":"3.2.1"} on web-1, not web-2',
    });
    assert.throws(
      () => assertSameRequest('op-f', onWeb1, fleet),
      (error: BootstrapError) =>
        error.code === 'INVALID_REQUEST' &&
        /^operation id op-f is already used by another request \(it names a fleet run, /.test(
          error.message,
        ) &&
        (error.details['existing'] as { kind?: string }).kind === 'fleet',
    );
  });
});
