import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import type { Transport } from '../../lib/transport/types.ts';

/**
 * A host in a folder: bootstrap.ini, two products (haproxy, deepfiler) whose hooks and checks are
 * real scripts, and a state dir not yet created. Each hook does what `behave()` last told it
 * (exit code, sleep, output, start a daemon) and records its environment, so tests drive real
 * processes rather than fakes.
 */
export interface Sandbox {
  root: string;
  configPath: string;
  stateDir: string;
  hooksDir: string;
  /** A HostTarget on this sandbox through the given transport (local `sh` by default). */
  host(transport?: Transport, name?: string): HostTarget;
  /** Tell a hook what to do next time: exit code, seconds to sleep, text to print, a daemon to leave running. */
  behave(product: string, action: 'provision' | 'upgrade', behaviour: HookBehaviour): void;
  /** Make a product's check pass or fail. */
  setHealthy(product: string, healthy: boolean): void;
  /** The environment a hook ran with (`BOOTSTRAP_*` lines), or null if it has not run. */
  hookEnvFile(product: string, action: 'provision' | 'upgrade'): string;
  writeConfig(text: string): void;
  cleanup(): void;
}

export interface HookBehaviour {
  exit?: number;
  sleep?: number;
  output?: string;
  /** Start `sleep N` in the background, detached, and leave it running. */
  daemonSeconds?: number;
}

export interface SandboxOptions {
  hookTimeout?: number;
  /** Extra lines for [server]. */
  serverExtra?: string;
  /** Give the whole sandbox to this user (an SSH test user). */
  owner?: { uid: number; gid: number };
  /** Where to make it (default: the OS temp dir). */
  parent?: string;
}

/**
 * Options that give a sandbox to an SSH login `user` when the tests run as root (sshd then logs
 * in as that user, who must own the host's files); otherwise the user is whoever runs the tests.
 */
export function ownedBy(user: string): SandboxOptions {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }));
  return { owner: { uid: id('-u'), gid: id('-g') } };
}

const HOOK = `#!/bin/sh
# Sandbox hook: records its environment, then does what behaviour/<product>.<action> says.
here=$(dirname "$0")
root=$(dirname "$here")
name=$(basename "$0" .sh)
env | grep '^BOOTSTRAP_' | sort > "$root/out/$name.env"
printf 'args=%s\\n' "$*" >> "$root/out/$name.env"
printf 'cwd=%s\\n' "$(pwd)" >> "$root/out/$name.env"
exit_code=0; sleep_for=0; output="$name ran"; daemon=0
[ -f "$root/behaviour/$name" ] && . "$root/behaviour/$name"
printf '%s\\n' "$output"
if [ "$daemon" -gt 0 ]; then (sleep "$daemon" & echo $! > "$root/out/$name.daemon") ; fi
[ "$sleep_for" -gt 0 ] && sleep "$sleep_for"
touch "$root/out/$name.done"
exit "$exit_code"
`;

const CHECK = `#!/bin/sh
# Sandbox check: healthy unless health/<product> says "down".
root=$(dirname "$(dirname "$0")")
product=$(basename "$0" .check.sh)
[ "$(cat "$root/health/$product" 2>/dev/null)" != down ]
`;

export function bootstrapIni(root: string, options: SandboxOptions = {}): string {
  const hooks = join(root, 'hooks');
  return `[server]
modes = maintenance, active, drain     ; allowed modes
initial_mode = maintenance
provisioned_mode = active
hook_timeout = ${options.hookTimeout ?? 60}
${options.serverExtra ?? ''}
[role:edge]
products = haproxy, deepfiler

[role:worker]
products = deepfiler

[product:haproxy]
keys = maxconn, frontend_port, motd
provision = ${hooks}/haproxy.provision.sh
upgrade = ${hooks}/haproxy.upgrade.sh
check = exec:${hooks}/haproxy.check.sh

[product:deepfiler]
keys = threads, storage_path, log.level
provision = ${hooks}/deepfiler.provision.sh
upgrade = ${hooks}/deepfiler.upgrade.sh
check = exec:${hooks}/deepfiler.check.sh
`;
}

export function createSandbox(options: SandboxOptions = {}): Sandbox {
  const root = mkdtempSync(join(options.parent ?? tmpdir(), 'cloudiq-sandbox-'));
  chmodSync(root, 0o755);
  const hooksDir = join(root, 'hooks');
  for (const dir of ['hooks', 'behaviour', 'health', 'out', 'etc'])
    mkdirSync(join(root, dir), { mode: 0o777 });
  chmodSync(join(root, 'out'), 0o777);
  for (const product of ['haproxy', 'deepfiler']) {
    for (const action of ['provision', 'upgrade'])
      writeFileSync(join(hooksDir, `${product}.${action}.sh`), HOOK, { mode: 0o755 });
    writeFileSync(join(hooksDir, `${product}.check.sh`), CHECK, { mode: 0o755 });
  }
  const configPath = join(root, 'etc', 'bootstrap.ini');
  writeFileSync(configPath, bootstrapIni(root, options), { mode: 0o644 });
  const stateDir = join(root, 'state');
  if (options.owner) chownTree(root, options.owner.uid, options.owner.gid);

  const sandbox: Sandbox = {
    root,
    configPath,
    stateDir,
    hooksDir,
    host(transport = createLocalTransport(), name = 'sandbox') {
      return { name, transport, configPath, stateDir };
    },
    behave(product, action, b) {
      const lines = [
        `exit_code=${b.exit ?? 0}`,
        `sleep_for=${b.sleep ?? 0}`,
        `daemon=${b.daemonSeconds ?? 0}`,
        ...(b.output === undefined ? [] : [`output='${b.output.replaceAll("'", `'\\''`)}'`]),
      ];
      const file = join(root, 'behaviour', `${product}.${action}`);
      writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o644 });
      if (options.owner) chownSync(file, options.owner.uid, options.owner.gid);
    },
    setHealthy(product, healthy) {
      writeFileSync(join(root, 'health', product), healthy ? 'up\n' : 'down\n', { mode: 0o644 });
    },
    hookEnvFile(product, action) {
      return join(root, 'out', `${product}.${action}.env`);
    },
    writeConfig(text) {
      writeFileSync(configPath, text, { mode: 0o644 });
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  return sandbox;
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory())
    for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid);
}
