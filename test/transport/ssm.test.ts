import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { PAGE_BYTES } from '../../lib/transport/ssm/frame.ts';
import { createSsmTransport, type SsmBatcher } from '../../lib/transport/ssm/index.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { type SsmTestServer, testInstanceId } from '../support/ssm-server.ts';
import { useSsmPeers } from '../support/ssm-suite.ts';

const PROGRAM = `set -u
greeting='héllo wörld ✓'
printf '%s\\n' "$greeting"
printf 'tabs\\tand {{ssm:not-a-parameter}} and \\\\ backslash\\n'
cat <<'EOF'
here-doc line with $dollar and \`backticks\` and 'quotes'
EOF
i=0; while [ "$i" -lt 3 ]; do printf 'line %d\\n' "$i"; i=$((i + 1)); done
echo 'to stderr' >&2
printf 'last line without newline'
exit 7
`;

describe('ssm transport over the SSM wire protocol', () => {
  let server: SsmTestServer;
  let client: SSMClient;
  let batcher: SsmBatcher;
  let next = 1;
  const host = (): Transport => {
    const instanceId = testInstanceId(next++);
    server.addInstance(instanceId);
    return createSsmTransport({ client, instanceId, batcher });
  };

  useSsmPeers((peers) => {
    ({ server, client, batcher } = peers);
  });

  it('gives back exactly what the local transport gives for the same program', async () => {
    const local = await createLocalTransport().exec({ program: PROGRAM });
    const remote = await host().exec({ program: PROGRAM, timeoutMs: 20_000 });
    assert.deepEqual(remote, local);
    assert.equal(remote.exitCode, 7);
    assert.match(remote.stdout, /\{\{ssm:not-a-parameter\}\}/);
  });

  it('reports exit code 194 without letting the agent reboot the node', async () => {
    const t = host();
    const result = await t.exec({ program: 'echo rebooting?\nexit 194\n' });
    assert.deepEqual(result, { stdout: 'rebooting?\n', stderr: '', exitCode: 194 });
    const [invocation] = server.invocationsOf(t.target);
    assert.equal(invocation?.responseCode, 1);
    assert.equal(invocation?.status, 'Failed');
  });

  it('sets executionTimeout and TimeoutSeconds from timeoutMs, and lets every host run whatever the others do', async () => {
    const t = host();
    const before = server.sendCommands.length;
    await t.exec({ program: 'true', timeoutMs: 45_500 });
    await t.exec({ program: 'true', timeoutMs: 2_000 });
    await t.exec({ program: 'true' });
    const [long, short, none] = server.sendCommands.slice(before);
    assert.equal(long?.DocumentName, 'AWS-RunShellScript');
    assert.deepEqual(long?.Parameters?.['executionTimeout'], ['46']);
    assert.equal(long?.TimeoutSeconds, 46);
    assert.deepEqual(short?.Parameters?.['executionTimeout'], ['2']);
    assert.equal(short?.TimeoutSeconds, 30, "SSM's smallest delivery timeout");
    assert.equal(none?.Parameters?.['executionTimeout'], undefined);
    assert.equal(none?.TimeoutSeconds, undefined);
    assert.equal(long?.MaxErrors, '100%');
    assert.equal(long?.MaxConcurrency, '100%');
  });

  it('sends 120 hosts running the same program in 3 SendCommand calls', async () => {
    const sent = server.calls['SendCommand'] ?? 0;
    const gets = server.calls['GetCommandInvocation'] ?? 0;
    const hosts = Array.from({ length: 120 }, host);
    const results = await Promise.all(
      hosts.map((t) => t.exec({ program: 'echo "heartbeat from $AWS_SSM_INSTANCE_ID"', timeoutMs: 60_000 })),
    );
    assert.equal((server.calls['SendCommand'] ?? 0) - sent, 3);
    const batches = server.sendCommands.slice(-3).map((c) => c.InstanceIds?.length);
    assert.deepEqual(batches, [50, 50, 20]);
    // Small answers are read whole from ListCommandInvocations: no call per host.
    assert.equal((server.calls['GetCommandInvocation'] ?? 0) - gets, 0);
    results.forEach((r, i) => {
      assert.deepEqual(r, { stdout: `heartbeat from ${hosts[i]?.target}\n`, stderr: '', exitCode: 0 });
    });
  });

  it('batches hosts whose timeouts differ by milliseconds only: SSM takes whole seconds', async () => {
    const sent = server.calls['SendCommand'] ?? 0;
    const hosts = Array.from({ length: 4 }, host);
    // As a fleet gives each host what is left of its own time.
    await Promise.all(hosts.map((t, i) => t.exec({ program: 'echo same', timeoutMs: 29_317 + i })));
    assert.equal((server.calls['SendCommand'] ?? 0) - sent, 1);
    const [command] = server.sendCommands.slice(-1);
    assert.equal(command?.InstanceIds?.length, 4);
    assert.deepEqual(command?.Parameters?.['executionTimeout'], ['30']);
  });

  it('sends per-host programs one per call, and one host twice in two commands', async () => {
    const sent = server.calls['SendCommand'] ?? 0;
    const [a, b] = [host(), host()];
    const results = await Promise.all([
      a.exec({ program: 'echo a' }),
      b.exec({ program: 'echo b' }),
      a.exec({ program: 'echo same' }),
      a.exec({ program: 'echo same' }),
    ]);
    assert.deepEqual(
      results.map((r) => r.stdout),
      ['a\n', 'b\n', 'same\n', 'same\n'],
    );
    assert.equal((server.calls['SendCommand'] ?? 0) - sent, 4);
  });

  it('brings a 200 KB answer back whole, and leaves no temp files on the host', async () => {
    const t = host();
    const instance = server.instance(t.target);
    const random = randomBytes(150_000).toString('base64');
    writeFileSync(join(instance.root, 'random.txt'), random);
    const sent = server.calls['SendCommand'] ?? 0;
    const result = await t.exec({ program: `cat '${instance.root}/random.txt'; exit 3` });
    assert.equal(result.stdout.length, random.length);
    assert.ok(result.stdout === random, 'the output differs');
    assert.equal(result.exitCode, 3);
    assert.ok((server.calls['SendCommand'] ?? 0) - sent > 1, 'paged through follow-up commands');
    assert.deepEqual(readdirSync(instance.tmpDir), []);
  });

  it('brings multibyte text back whole across page boundaries, from a host without gzip', async () => {
    const instanceId = testInstanceId(next++);
    const instance = server.addInstance(instanceId);
    // Only what the wrapper needs, and no gzip: the output is paged raw.
    const bin = join(instance.root, 'bin');
    mkdirSync(bin);
    for (const tool of ['sh', 'mktemp', 'base64', 'cat', 'wc', 'dd', 'rm', 'printf']) {
      const path = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      if (path.startsWith('/')) symlinkSync(path, join(bin, tool));
    }
    instance.options = { env: { PATH: bin } };
    const alphabet = [...'абвгдеёжзийклмнопрстуфхцчшщъыьэюяäöüß日本語中文字✓€😀🎉𝄞'];
    const bytes = randomBytes(120_000);
    const text = Array.from(bytes, (b, i) => (i % 80 === 79 ? '\n' : alphabet[b % alphabet.length])).join('');
    assert.ok(Buffer.byteLength(text) > 200_000);
    writeFileSync(join(instance.root, 'text.txt'), text);
    const t = createSsmTransport({ client, instanceId, batcher });
    const sent = server.calls['SendCommand'] ?? 0;
    const result = await t.exec({ program: `cat '${instance.root}/text.txt'` });
    assert.ok(result.stdout === text, 'the output differs');
    assert.ok((server.calls['SendCommand'] ?? 0) - sent >= Math.ceil(Buffer.byteLength(text) / PAGE_BYTES));
    assert.deepEqual(readdirSync(instance.tmpDir), []);
  });

  it('brings a paged answer back whole when the program also wrote 2,000 bytes and more to stderr', async () => {
    // The first page travels after the header and the stderr line (2,000 bytes: 2,668 characters
    // of base64): all three must fit in the 24,000 characters SSM returns.
    // Random text, which gzip cannot shrink below one page.
    const random = randomBytes(30_000).toString('base64');
    for (const errBytes of [0, 1_700, 2_000, 9_000]) {
      const t = host();
      writeFileSync(join(server.instance(t.target).root, 'random.txt'), random);
      const result = await t.exec({
        program: `cat '${server.instance(t.target).root}/random.txt'; head -c ${errBytes} /dev/zero | tr '\\0' e >&2`,
        timeoutMs: 20_000,
      });
      assert.ok(result.stdout === random, `stderr ${errBytes}: the output differs`);
      assert.equal(result.stderr, 'e'.repeat(Math.min(errBytes, 2_000)));
    }
  });

  it('never takes a cut plugin output for the whole answer, whatever its length', async () => {
    // Around the one length where the cut excerpt plus SSM's marker adds up to the size the
    // header declares: each answer must come back exactly.
    for (let n = 2_470; n <= 2_510; n += 1) {
      const result = await host().exec({ program: `head -c ${n} /dev/zero | tr '\\0' a`, timeoutMs: 20_000 });
      assert.ok(result.stdout === 'a'.repeat(n), `${n} bytes: ${JSON.stringify(result.stdout.slice(-30))}`);
    }
  });

  it('reads an answer too long for the listed plugin output with GetCommandInvocation', async () => {
    const gets = server.calls['GetCommandInvocation'] ?? 0;
    const result = await host().exec({
      program: 'i=0; while [ $i -lt 500 ]; do echo "row $i"; i=$((i + 1)); done',
    });
    assert.equal(result.stdout, Array.from({ length: 500 }, (_, i) => `row ${i}\n`).join(''));
    assert.equal((server.calls['GetCommandInvocation'] ?? 0) - gets, 1);
  });

  it('resolves a Failed invocation with the output the program gave', async () => {
    const program = `printf '{"error":{"code":"LOCKED"}}\\n'; exit 3`;
    const result = await host().exec({ program });
    assert.deepEqual(result, { stdout: '{"error":{"code":"LOCKED"}}\n', stderr: '', exitCode: 3 });
  });

  it('waits for invocations SSM does not list yet right after SendCommand', async () => {
    server.registrationLagMs = 150;
    try {
      const result = await host().exec({ program: 'echo late' });
      assert.equal(result.stdout, 'late\n');
    } finally {
      server.registrationLagMs = 0;
    }
  });

  it('fails only the unknown instance of a batch with UNREACHABLE', async () => {
    const known = [host(), host(), host()];
    const unknown = createSsmTransport({ client, instanceId: testInstanceId(0xdead), batcher });
    const settled = await Promise.allSettled([...known, unknown].map((t) => t.exec({ program: 'echo ok' })));
    for (const s of settled.slice(0, 3)) assert.deepEqual(s.status === 'fulfilled' && s.value.stdout, 'ok\n');
    const last = settled[3];
    assert.equal(last?.status, 'rejected');
    const error = last?.status === 'rejected' ? last.reason : undefined;
    assert.equal(error.code, 'UNREACHABLE');
    assert.equal(error.details.awsError, 'InvalidInstanceId');
  });
});
