/**
 * OpenSSH's client configuration (SPEC 3.2 v2), against real sshd hosts: a config file written
 * here names the hosts by alias, and the transport must connect where `ssh ALIAS` would — with
 * the user, port, keys, known_hosts files and jump hosts the file gives each name.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CliOptions } from '../../lib/cli/args.ts';
import { sshEndpointFromFlags } from '../../lib/cli/targets.ts';
import { parseInventory } from '../../lib/config/inventory.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { sshEndpointForHost } from '../../lib/orchestrate/inventory-endpoint.ts';
import { createSshTransport, resolveEndpoint } from '../../lib/transport/ssh/index.ts';
import { type SshdHost, startSshd } from '../support/sshd.ts';

describe('ssh config: hosts by alias, as ssh reaches them', () => {
  let bastion: SshdHost;
  let target: SshdHost;
  let dir: string;
  let config: string;

  before(async () => {
    // Two hosts with different client keys: a hop can only log in with its own.
    [bastion, target] = await Promise.all([startSshd(), startSshd()]);
    dir = await mkdtemp(join(tmpdir(), 'ssh-config-'));
    await mkdir(join(dir, 'conf.d'));
    await writeFile(
      join(dir, 'bastion_known_hosts'),
      `[127.0.0.1]:${bastion.port} ${bastion.hostPublicKeys[0]}\n`,
    );
    await writeFile(join(dir, 'empty_known_hosts'), '');
    await writeFile(
      join(dir, 'target_known_hosts'),
      `[127.0.0.1]:${target.port} ${target.hostPublicKeys[0]}\n`,
    );
    config = join(dir, 'config');
    await writeFile(
      join(dir, 'conf.d', 'bastion.conf'),
      [
        'Host bastion',
        '  HostName 127.0.0.1',
        `  Port ${bastion.port}`,
        `  User ${bastion.user}`,
        `  IdentityFile ${bastion.identityFile}`,
        `  UserKnownHostsFile ${join(dir, 'bastion_known_hosts')}`,
        '',
      ].join('\n'),
    );
    await writeFile(
      config,
      [
        `Include ${join(dir, 'conf.d', '*.conf')}`,
        '',
        'Host cloud1 cloud1-alias',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        `  User ${target.user}`,
        '  IdentityFile /nonexistent/first_key',
        `  IdentityFile ${target.identityFile}`,
        // Two user files: the key is in the second one.
        `  UserKnownHostsFile ${join(dir, 'empty_known_hosts')} ${join(dir, 'target_known_hosts')}`,
        '  ConnectTimeout 7',
        '  ServerAliveInterval 11',
        '',
        'Host behind',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        `  User ${target.user}`,
        `  IdentityFile ${target.identityFile}`,
        `  UserKnownHostsFile ${join(dir, 'target_known_hosts')}`,
        '  ProxyJump bastion',
        '',
        'Host via-plain-hop',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        '  ProxyJump hopper@10.9.8.7:2222',
        '',
        'Host global-only',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        `  User ${target.user}`,
        `  IdentityFile ${target.identityFile}`,
        `  UserKnownHostsFile ${join(dir, 'empty_known_hosts')}`,
        `  GlobalKnownHostsFile ${join(dir, 'target_known_hosts')}`,
        '',
        'Host lax',
        '  HostName 127.0.0.1',
        '  StrictHostKeyChecking no',
        '',
        'Host viacommand',
        '  ProxyCommand nc %h %p',
        '',
        'Host new-host',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        `  User ${target.user}`,
        `  IdentityFile ${target.identityFile}`,
        `  UserKnownHostsFile ${join(dir, 'recorded_known_hosts')}`,
        '  StrictHostKeyChecking accept-new',
        '',
        'Host tokens',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        `  User ${target.user}`,
        `  IdentityFile ${dir}/keys/%r-%p`,
        '',
        'Match originalhost matched-*',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        '',
        'Host *',
        '  User nobody-by-default',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await Promise.all([bastion.stop(), target.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (host: string, extra: Record<string, unknown> = {}) => {
    const ssh = createSshTransport({ host, sshConfig: config, ...extra });
    try {
      return await ssh.exec({ program: 'echo "$USER $SSH_CONNECTION"' });
    } finally {
      await ssh.close();
    }
  };

  it('connects to an alias with its HostName, Port, User, IdentityFiles and known_hosts files', async () => {
    const { stdout } = await run('cloud1');
    assert.match(
      stdout,
      new RegExp(`^${target.user} 127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${target.port}\\n$`),
    );
    // Patterns match case-insensitively, as OpenSSH lowercases the name it is given.
    assert.match((await run('CLOUD1-ALIAS')).stdout, new RegExp(`${target.port}\\n$`));
  });

  it('reads ConnectTimeout and ServerAliveInterval for the host', () => {
    const endpoint = resolveEndpoint({ host: 'cloud1', sshConfig: config });
    assert.deepEqual(endpoint.timing, { connectTimeoutMs: 7000, keepaliveIntervalMs: 11000 });
    assert.equal(endpoint.label, `${target.user}@127.0.0.1:${target.port}`);
    // The catch-all block's User applies only where no earlier block set one: first value wins.
    assert.equal(resolveEndpoint({ host: 'lonely', sshConfig: config }).user, 'nobody-by-default');
  });

  it('lets explicit settings win over the config', async () => {
    // A port given explicitly: the config's Port is not used.
    await assert.rejects(run('cloud1', { port: 1 }), { code: 'UNREACHABLE' });
    // An explicit identity replaces the config's IdentityFiles (here: the bastion's key, refused).
    await assert.rejects(run('cloud1', { identity: bastion.identityFile }), { code: 'AUTH_FAILED' });
    // An explicit known_hosts replaces UserKnownHostsFile.
    await assert.rejects(run('cloud1', { knownHosts: join(dir, 'empty_known_hosts') }), {
      code: 'HOST_KEY_MISMATCH',
    });
  });

  it('goes through a ProxyJump host with that host’s own user, key and known_hosts', async () => {
    const before = await bastion.acceptedLogins();
    const { stdout } = await run('behind');
    assert.match(
      stdout,
      new RegExp(`^${target.user} 127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${target.port}\\n$`),
    );
    assert.equal(await bastion.acceptedLogins(), before + 1);
    const endpoint = resolveEndpoint({ host: 'behind', sshConfig: config });
    assert.equal(endpoint.jump?.label, `${bastion.user}@127.0.0.1:${bastion.port}`);
    assert.equal(endpoint.jump?.trust.knownHostsFile, join(dir, 'bastion_known_hosts'));
    assert.deepEqual(endpoint.jump?.keys.identityFiles, [bastion.identityFile]);
  });

  it('--host: a ProxyJump hop the config names nothing for shares the flags’ key, known_hosts and accept-new', () => {
    const flags = {
      host: 'via-plain-hop',
      identity: '/flags/id_ed25519',
      knownHosts: '/flags/known_hosts',
      acceptNewHostKey: true,
      sshConfig: config,
    } as CliOptions;
    const endpoint = resolveEndpoint(sshEndpointFromFlags(flags));
    assert.equal(endpoint.jump?.label, `hopper@10.9.8.7:2222`);
    assert.equal(endpoint.jump?.trust.knownHostsFile, '/flags/known_hosts');
    assert.equal(endpoint.jump?.trust.acceptNew, true);
    assert.equal(endpoint.jump?.keys.identity, '/flags/id_ed25519');
    // A hop the config names a key and known_hosts for keeps its own.
    const own = resolveEndpoint(sshEndpointFromFlags({ ...flags, host: 'behind' }));
    assert.equal(own.jump?.trust.knownHostsFile, join(dir, 'bastion_known_hosts'));
    assert.deepEqual(own.jump?.keys.identityFiles, [bastion.identityFile]);
    assert.equal(own.jump?.keys.identity, undefined);
  });

  it('an inventory’s accept_new_host_key = false wins over the config’s StrictHostKeyChecking accept-new', () => {
    const trustOf = (extra: string[]) => {
      const inventory = parseInventory(
        ['[defaults]', `ssh_config = ${config}`, '[host:web-1]', 'address = new-host', ...extra, ''].join(
          '\n',
        ),
        join(dir, 'inventory.ini'),
      );
      return resolveEndpoint(sshEndpointForHost(inventory, 'web-1')).trust;
    };
    assert.equal(trustOf([]).acceptNew, true, 'unset: the config decides');
    assert.equal(trustOf(['accept_new_host_key = false']).acceptNew, false);
    assert.equal(trustOf(['accept_new_host_key = no']).acceptNew, false);
    assert.equal(trustOf(['accept_new_host_key = true']).acceptNew, true);
  });

  it('follows a ProxyJump chain hop by hop, and none turns it off', () => {
    const endpoint = resolveEndpoint({ host: 'behind', sshConfig: config });
    assert.ok(endpoint.jump);
    const chained = resolveEndpoint({
      host: 'cloud1',
      sshConfig: config,
      jump: { host: 'x', jump: { host: 'bastion', sshConfig: config }, sshConfig: config },
    });
    assert.equal(chained.jump?.host, 'x');
    assert.equal(chained.jump?.jump?.port, bastion.port);
    assert.equal(resolveEndpoint({ host: 'behind', sshConfig: config, jump: null }).jump, null);
  });

  it('reads GlobalKnownHostsFile after the user files', async () => {
    assert.match((await run('global-only')).stdout, new RegExp(`${target.port}\\n$`));
  });

  it('refuses StrictHostKeyChecking no, and ProxyCommand, with a CONFIG_ERROR saying why', () => {
    assert.throws(
      () => resolveEndpoint({ host: 'lax', sshConfig: config }),
      (error: unknown) => {
        assert.ok(error instanceof BootstrapError);
        assert.equal(error.code, 'CONFIG_ERROR');
        assert.match(error.message, /StrictHostKeyChecking/);
        assert.match(error.message, /accept-new/);
        assert.equal(error.details['file'], config);
        return true;
      },
    );
    // An explicit trust setting wins: the config's "no" is then not in force.
    assert.doesNotThrow(() => resolveEndpoint({ host: 'lax', sshConfig: config, acceptNewHostKey: true }));
    assert.throws(() => resolveEndpoint({ host: 'viacommand', sshConfig: config }), {
      code: 'CONFIG_ERROR',
      message: /ProxyCommand is not supported/,
    });
  });

  it('records a new host key into the first UserKnownHostsFile with StrictHostKeyChecking accept-new', async () => {
    assert.match((await run('new-host')).stdout, new RegExp(`${target.port}\\n$`));
    const recorded = await readFile(join(dir, 'recorded_known_hosts'), 'utf8');
    assert.equal(recorded, `[127.0.0.1]:${target.port} ${target.hostPublicKeys[0]}\n`);
  });

  it('expands %r, %p, %d and ~ in IdentityFile; evaluates Match originalhost', async () => {
    const endpoint = resolveEndpoint({ host: 'tokens', sshConfig: config });
    assert.deepEqual(endpoint.keys.identityFiles, [`${dir}/keys/${target.user}-${target.port}`]);
    await mkdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', `${target.user}-${target.port}`), await readFile(target.identityFile), {
      mode: 0o600,
    });
    await assert.rejects(run('tokens'), { code: 'HOST_KEY_MISMATCH' });
    assert.match((await run('tokens', { knownHosts: join(dir, 'target_known_hosts') })).stdout, /\n$/);
    const matched = resolveEndpoint({ host: 'matched-one', sshConfig: config });
    assert.equal(matched.port, target.port);
  });
});

describe('ssh config: what a file says for each host of a fleet', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ssh-config-fleet-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const portOf = (host: string, file: string) => resolveEndpoint({ host, sshConfig: file }).port;

  it('reads a file of Host * blocks the same for every host, and any other pattern per host', async () => {
    const file = join(dir, 'config');
    await writeFile(file, ['Host *', '  HostName %h.example.net', '  Port 2200', ''].join('\n'));
    assert.equal(resolveEndpoint({ host: 'web1', sshConfig: file }).host, 'web1.example.net');
    assert.equal(resolveEndpoint({ host: 'web2', sshConfig: file }).host, 'web2.example.net');
    assert.equal(portOf('web2', file), 2200);
    // A Host pattern of its own, then a Match: each host gets its own answer again.
    await writeFile(file, ['Host web2', '  Port 2201', '', 'Host *', '  Port 2200', ''].join('\n'));
    assert.deepEqual([portOf('web1', file), portOf('web2', file), portOf('web3', file)], [2200, 2201, 2200]);
    await writeFile(
      file,
      ['Match originalhost web3', '  Port 2203', '', 'Host *', '  Port 2200', ''].join('\n'),
    );
    assert.deepEqual([portOf('web1', file), portOf('web3', file), portOf('web2', file)], [2200, 2203, 2200]);
  });

  it('refuses a ~/.ssh/config that someone else could write, as ssh does, and not the same file given with -F', async () => {
    const home = join(dir, 'home-perm');
    await mkdir(join(home, '.ssh'), { recursive: true });
    const file = join(home, '.ssh', 'config');
    await writeFile(file, 'Host *\n  Port 2222\n');
    const saved = process.env['HOME'];
    process.env['HOME'] = home;
    try {
      await chmod(file, 0o664);
      assert.throws(
        () => resolveEndpoint({ host: 'web1', user: 'ops' }),
        (error: unknown) =>
          error instanceof BootstrapError &&
          error.code === 'CONFIG_ERROR' &&
          /config: bad owner or permissions \(owned by uid \d+, mode 664\)/.test(error.message),
      );
      assert.equal(resolveEndpoint({ host: 'web1', user: 'ops', sshConfig: file }).port, 2222);
      await chmod(file, 0o644);
      assert.equal(resolveEndpoint({ host: 'web1', user: 'ops' }).port, 2222);
    } finally {
      process.env['HOME'] = saved;
    }
  });

  it('refuses an included file that someone else could write, whichever file includes it, as ssh does', async () => {
    const included = join(dir, 'included.conf');
    const file = join(dir, 'including');
    await writeFile(included, 'Host *\n  Port 2224\n', { mode: 0o666 });
    await chmod(included, 0o666);
    await writeFile(file, `Include ${included}\n`);
    assert.throws(
      () => resolveEndpoint({ host: 'web1', user: 'ops', sshConfig: file }),
      (error: unknown) =>
        error instanceof BootstrapError &&
        error.code === 'CONFIG_ERROR' &&
        error.message.startsWith(`${included}: bad owner or permissions`),
    );
    await chmod(included, 0o644);
    assert.equal(resolveEndpoint({ host: 'web1', user: 'ops', sshConfig: file }).port, 2224);
  });

  it('sees a change to what an Include matches: a file added, edited or removed', async () => {
    const includes = join(dir, 'inc.d');
    await mkdir(includes);
    const file = join(dir, 'with-includes');
    await writeFile(file, `Include ${includes}/*.conf\n`);
    const port = () => resolveEndpoint({ host: 'web1', user: 'ops', sshConfig: file }).port;
    assert.equal(port(), 22);
    await writeFile(join(includes, 'a.conf'), 'Host *\n  Port 2301\n');
    assert.equal(port(), 2301);
    await writeFile(join(includes, 'a.conf'), 'Host *\n  Port 23020\n');
    assert.equal(port(), 23020);
    await rm(join(includes, 'a.conf'));
    assert.equal(port(), 22);
  });

  it('never runs nslookup for CanonicalDomains: canonicalisation is not supported', async () => {
    const bin = join(dir, 'bin');
    const mark = join(dir, 'nslookup-ran');
    await mkdir(bin);
    await writeFile(join(bin, 'nslookup'), `#!/bin/sh\ntouch '${mark}'\necho "Name: $1"\n`, { mode: 0o755 });
    const file = join(dir, 'canonical');
    await writeFile(
      file,
      [
        'Host web9.example.net',
        '  Port 2209',
        '',
        'Host *',
        '  CanonicalizeHostName yes',
        '  CanonicalDomains example.org example.net',
        '  Port 2200',
        '',
      ].join('\n'),
    );
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path}`;
    try {
      const endpoint = resolveEndpoint({ host: 'web9', sshConfig: file });
      assert.equal(endpoint.host, 'web9');
      assert.equal(endpoint.port, 2200);
    } finally {
      process.env['PATH'] = path;
    }
    await assert.rejects(readFile(mark), { code: 'ENOENT' });
  });
});

describe('ssh as a user with no name, no home, or files it cannot read', () => {
  /**
   * Runs `body` (which sets `out`) in a fresh process with USER, LOGNAME and HOME unset but for
   * `env`, as `uid` in a user namespace when given (a uid with no entry in the user database).
   */
  function inChild(body: string, env: Record<string, string>, uid?: number): Record<string, unknown> {
    const script = [
      "const { resolveEndpoint } = await import('./lib/transport/ssh/index.ts');",
      "const { expandSshPath } = await import('./lib/transport/ssh/ssh-config.ts');",
      'let out;',
      `try { ${body} } catch (error) { out = { code: error.code, message: error.message }; }`,
      "process.stdout.write('\\n' + JSON.stringify(out) + '\\n');",
    ].join('\n');
    const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
    const unset = ['-u', 'USER', '-u', 'LOGNAME', '-u', 'HOME'];
    const names = [...unset, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
    const namespace =
      uid === undefined ? [] : ['unshare', '--user', `--map-user=${uid}`, `--map-group=${uid}`];
    const [command, ...args] = [...namespace, 'env', ...names, ...node];
    const child = spawnSync(command!, args, { encoding: 'utf8', timeout: 120_000 });
    const last = child.stdout.trim().split('\n').at(-1) ?? '';
    assert.match(last, /^\{/, `no answer from the child:\n${child.stdout}\n${child.stderr}`);
    return JSON.parse(last);
  }
  const userOf = "out = { user: resolveEndpoint({ host: 'web1', sshConfig: false }).user };";

  it('takes the remote user from the user database, as ssh does, not from USER', () => {
    assert.deepEqual(inChild(userOf, { USER: 'someone-else', HOME: '/' }), { user: userInfo().username });
  });

  it('falls back to USER or LOGNAME for a uid with no name, and says where to give one when neither is set', () => {
    assert.deepEqual(inChild(userOf, { USER: 'ops', HOME: '/' }, 54321), { user: 'ops' });
    assert.deepEqual(inChild(userOf, { LOGNAME: 'ops2', HOME: '/' }, 54321), { user: 'ops2' });
    const nameless = inChild(userOf, { HOME: '/' }, 54321);
    assert.equal(nameless['code'], 'CONFIG_ERROR');
    assert.match(String(nameless['message']), /uid 54321\) has no name.*USER@HOST/);
  });

  it('passes over a ~/.ssh/config it cannot read, as ssh does, and refuses one given with -F', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ssh-config-unreadable-'));
    try {
      await mkdir(join(home, '.ssh'));
      const file = join(home, '.ssh', 'config');
      await writeFile(file, 'Host *\n  Port 2222\n', { mode: 0o000 });
      await chmod(home, 0o755);
      const portOf = (extra: string) =>
        inChild(
          `out = { port: resolveEndpoint({ host: 'web1', user: 'ops'${extra} }).port };`,
          { HOME: home },
          54321,
        );
      assert.deepEqual(portOf(''), { port: 22 });
      const given = portOf(`, sshConfig: ${JSON.stringify(file)}`);
      assert.equal(given['code'], 'CONFIG_ERROR');
      assert.match(String(given['message']), /cannot read the ssh configuration: EACCES/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('passes over a known_hosts file it cannot read, as ssh does, and says so when the host is unknown', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'known-hosts-unreadable-'));
    try {
      const raw = generateKeyPairSync('ed25519')
        .publicKey.export({ format: 'der', type: 'spki' })
        .subarray(-32);
      const field = (data: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, data.length]), data]);
      const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
      const line = `10.0.0.7 ssh-ed25519 ${blob.toString('base64')}\n`;
      const readable = join(dir, 'known_hosts');
      const unreadable = join(dir, 'ssh_known_hosts');
      await writeFile(readable, line, { mode: 0o644 });
      await writeFile(unreadable, line, { mode: 0o000 });
      await chmod(dir, 0o755);
      const verdict = (files: string[]) =>
        [
          "const { loadHostKeyCheck } = await import('./lib/transport/ssh/host-keys.ts');",
          `const [first, ...more] = ${JSON.stringify(files)};`,
          "const check = await loadHostKeyCheck({ knownHostsFile: first, moreKnownHostsFiles: more, acceptNew: false }, '10.0.0.7', 22);",
          `const v = await check.verify(Buffer.from(${JSON.stringify(blob.toString('base64'))}, 'base64'));`,
          'out = { ok: v.ok, reason: v.reason ?? null, message: v.message ?? null };',
        ].join(' ');
      assert.deepEqual(inChild(verdict([readable, unreadable]), { HOME: '/' }, 54321), {
        ok: true,
        reason: null,
        message: null,
      });
      const unknown = inChild(verdict([unreadable]), { HOME: '/' }, 54321);
      assert.equal(unknown['ok'], false);
      assert.equal(unknown['reason'], 'unknown');
      assert.match(String(unknown['message']), new RegExp(`in ${unreadable} \\(unreadable: EACCES\\);`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without a home directory, leaves out ~/.ssh and refuses a path that names ~', () => {
    const endpoint = inChild(
      "const e = resolveEndpoint({ host: 'web1', user: 'ops' }); out = { known: e.trust.knownHostsFile ?? null, more: e.trust.moreKnownHostsFiles, ids: e.keys.identityFiles ?? [] };",
      {},
      54321,
    );
    assert.deepEqual(endpoint, {
      known: null,
      more: ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      ids: [],
    });
    const tilde = inChild(
      "out = { path: expandSshPath('~/.ssh/id_ed25519', { host: 'h', original: 'h', port: 22, user: 'u' }) };",
      {},
      54321,
    );
    assert.equal(tilde['code'], 'CONFIG_ERROR');
    assert.match(String(tilde['message']), /^~\/\.ssh\/id_ed25519: names the home directory/);
  });
});

describe('ssh config: times and yes/no words as ssh reads them', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ssh-config-words-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** What `ssh -G` makes of the same file, for the same host. */
  const sshSays = (file: string): Record<string, string> => {
    const out = spawnSync('ssh', ['-G', '-F', file, 'words'], { encoding: 'utf8' });
    return Object.fromEntries(
      out.stdout
        .split('\n')
        .map((line) => line.split(' '))
        .filter(
          ([key]) =>
            key === 'connecttimeout' || key === 'serveraliveinterval' || key === 'stricthostkeychecking',
        )
        .map(([key, ...rest]) => [key, rest.join(' ')]),
    );
  };

  for (const [connect, alive] of [
    ['90', '30'],
    ['1m', '30s'],
    ['1m30s', '2H'],
    ['1h1m1s', '1w'],
  ] as const) {
    it(`ConnectTimeout ${connect} and ServerAliveInterval ${alive} read as ssh -G reads them`, async () => {
      const file = join(dir, `times-${connect}-${alive}`);
      await writeFile(
        file,
        `Host words\n  HostName 127.0.0.1\n  ConnectTimeout ${connect}\n  ServerAliveInterval ${alive}\n`,
      );
      const ssh = sshSays(file);
      assert.deepEqual(resolveEndpoint({ host: 'words', sshConfig: file }).timing, {
        connectTimeoutMs: Number(ssh['connecttimeout']) * 1000,
        keepaliveIntervalMs: Number(ssh['serveraliveinterval']) * 1000,
      });
    });
  }

  it('refuses a time ssh refuses, with a CONFIG_ERROR naming the key', async () => {
    for (const bad of ['1x', '-5', '5 s', 'm', '1.5']) {
      const file = join(dir, 'bad-time');
      await writeFile(file, `Host words\n  HostName 127.0.0.1\n  ConnectTimeout ${bad}\n`);
      assert.notEqual(spawnSync('ssh', ['-G', '-F', file, 'words']).status, 0, `ssh takes ${bad}`);
      assert.throws(() => resolveEndpoint({ host: 'words', sshConfig: file }), {
        code: 'CONFIG_ERROR',
        message: /ConnectTimeout/,
      });
    }
  });

  it('StrictHostKeyChecking true is yes, and false is refused as no is', async () => {
    const file = join(dir, 'strict');
    await writeFile(file, 'Host words\n  HostName 127.0.0.1\n  StrictHostKeyChecking true\n');
    assert.equal(sshSays(file)['stricthostkeychecking'], 'true');
    assert.doesNotThrow(() => resolveEndpoint({ host: 'words', sshConfig: file }));
    await writeFile(file, 'Host words\n  HostName 127.0.0.1\n  StrictHostKeyChecking false\n');
    assert.equal(sshSays(file)['stricthostkeychecking'], 'false');
    assert.throws(() => resolveEndpoint({ host: 'words', sshConfig: file }), {
      code: 'CONFIG_ERROR',
      message: /StrictHostKeyChecking.*accept-new/s,
    });
  });
});
