// Starting a run in the cloud: a Step Functions execution named by its operation id, through the
// real SFNClient against the loopback Step Functions endpoint (test/support/sfn-server.ts), which
// keeps AWS's documented name rule. Starting twice starts once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { executionName, startNamedExecution } from '../../lib/cloud/start-run.ts';
import { createTestSfnClient, type SfnTestServer, startSfnServer } from '../support/sfn-server.ts';

const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:fleet-run';

describe('runs started as named executions', () => {
  let sfn: SfnTestServer;
  before(async () => {
    sfn = await startSfnServer();
  });
  after(() => sfn.close());

  it('starts once per operation id: a repeat, even with another input, answers the same execution', async () => {
    const client = createTestSfnClient(sfn);
    const started: string[] = [];
    sfn.onStart = (execution) => started.push(execution.name);
    const first = await startNamedExecution(client, MACHINE, 'op_01J9ZQ', { startedAt: 'a' });
    const same = await startNamedExecution(client, MACHINE, 'op_01J9ZQ', { startedAt: 'a' });
    const other = await startNamedExecution(client, MACHINE, 'op_01J9ZQ', { startedAt: 'b' });
    assert.equal(first.executionArn, 'arn:aws:states:us-east-1:123456789012:execution:fleet-run:op_01J9ZQ');
    assert.equal(same.executionArn, first.executionArn);
    assert.deepEqual(other, { executionArn: first.executionArn, started: false });
    assert.deepEqual(started, ['op_01J9ZQ'], 'one execution');
    assert.equal(sfn.calls.length, 3);
  });

  it('names executions after the operation, within Step Functions’ 80 characters', () => {
    assert.equal(executionName('op_01J9ZQ'), 'op_01J9ZQ');
    const long = `op_${'a'.repeat(125)}`;
    const name = executionName(long);
    assert.equal(name.length, 72);
    assert.ok(name.startsWith(long.slice(0, 63)));
    assert.equal(executionName(long), name);
    assert.notEqual(executionName(`${long.slice(0, -1)}b`), name);
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/), (id) => {
        const n = executionName(id);
        assert.ok(n.length >= 1 && n.length <= 80);
        assert.match(n, /^[A-Za-z0-9_-]+$/);
      }),
    );
  });
});
