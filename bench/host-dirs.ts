/**
 * The benchmark's hosts on disk: each its own sandbox (bootstrap.ini, two products whose checks are
 * real executables, a state dir), all in the state a working server has — provisioned in role
 * `edge`, one product configured, one upgraded, so a heartbeat finds state files, a journal and
 * checks to run. The state is produced once by the real operations and copied to every host.
 */
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../lib/operations/index.ts';
import { createSandbox, type Sandbox } from '../test/support/sandbox.ts';
import { grantToTestUser } from '../test/support/sshd.ts';

export interface HostDir {
  /** The sandbox root: `etc/bootstrap.ini`, `state/`, `hooks/`. */
  root: string;
  configPath: string;
  stateDir: string;
}

/** Provisions one sandbox with the real operations (local transport); its state is the template. */
export async function provisionTemplate(parent: string): Promise<Sandbox> {
  const sandbox = createSandbox({ parent });
  const host = sandbox.host(undefined, 'template');
  await runCommand(host, { command: 'server.provision', role: 'edge' });
  await runCommand(host, {
    command: 'product.set',
    product: 'haproxy',
    values: { maxconn: '4096', frontend_port: '8404' },
  });
  await runCommand(host, { command: 'product.upgrade', product: 'deepfiler', version: '3.2.1' });
  return sandbox;
}

/**
 * `count` host dirs under `parent/hosts`, each with a copy of the template's state, owned by the SSH
 * login user. With `byAddress`, `parent/by-address/<address>` links to each host's root, so one
 * shell line run on every host can find its own files from `$SSH_CONNECTION`.
 */
export async function createHostDirs(
  count: number,
  parent: string,
  template: Sandbox,
  byAddress?: readonly string[],
): Promise<HostDir[]> {
  const dirs: HostDir[] = [];
  // Only the hosts go to the login user: the client key beside them must stay the runner's.
  const hostsDir = join(parent, 'hosts');
  mkdirSync(hostsDir, { mode: 0o755 });
  if (byAddress) mkdirSync(join(parent, 'by-address'), { mode: 0o755 });
  for (let i = 0; i < count; i += 1) {
    const sandbox = createSandbox({ parent: hostsDir });
    cpSync(template.stateDir, sandbox.stateDir, { recursive: true });
    dirs.push({ root: sandbox.root, configPath: sandbox.configPath, stateDir: sandbox.stateDir });
    const address = byAddress?.[i];
    if (address !== undefined) symlinkSync(sandbox.root, join(parent, 'by-address', address));
  }
  await grantToTestUser(hostsDir);
  return dirs;
}
