import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Where `npm start` and `cloudiq-bootstrap demo` keep the demo fleet (git-ignored). */
export const DEMO_ROOT = resolve(process.env['CLOUDIQ_DEMO_DIR'] ?? '.demo');

export interface DemoHost {
  name: string;
  groups: string[];
  configPath: string;
  stateDir: string;
}

const PROVISION = `#!/bin/sh
# Demo provision hook: pretends to install the product, and leaves a marker the check looks for.
echo "provisioning $BOOTSTRAP_PRODUCT (operation $BOOTSTRAP_OPERATION_ID)"
env | grep '^BOOTSTRAP_CFG_' | sort
sleep 1
mkdir -p "$BOOTSTRAP_STATE_DIR/../run" && touch "$BOOTSTRAP_STATE_DIR/../run/$BOOTSTRAP_PRODUCT.up"
echo "$BOOTSTRAP_PRODUCT is up"
`;

const UPGRADE = `#!/bin/sh
# Demo upgrade hook: "installs" version $1. Version 0.0.0-bad fails, to show a failed upgrade.
echo "upgrading $BOOTSTRAP_PRODUCT to $1"
sleep 1
[ "$1" = 0.0.0-bad ] && { echo "package $BOOTSTRAP_PRODUCT $1 not found" >&2; exit 3; }
echo "$BOOTSTRAP_PRODUCT $1 installed"
`;

const CHECK = `#!/bin/sh
# Demo check: healthy once provisioned.
[ -f "$(dirname "$0")/../run/$(basename "$0" .check.sh).up" ]
`;

function config(dir: string): string {
  const hooks = join(dir, 'hooks');
  const product = (name: string, keys: string) => `[product:${name}]
keys = ${keys}
provision = ${hooks}/${name}.provision.sh
upgrade = ${hooks}/${name}.upgrade.sh
check = exec:${hooks}/${name}.check.sh
`;
  return `; Demo host for cloudiq-bootstrap (made by \`npm start\` / \`cloudiq-bootstrap demo\`).
[server]
modes = maintenance, active, drain
initial_mode = maintenance
provisioned_mode = active
hook_timeout = 60

[role:edge]
products = haproxy, deepfiler

[role:worker]
products = deepfiler

${product('haproxy', 'maxconn, frontend_port')}
${product('deepfiler', 'threads, storage_path')}`;
}

/** Creates (once) a demo host under DEMO_ROOT/hosts/NAME: its bootstrap.ini, hooks and state dir. */
export function ensureDemoHost(name: string, groups: string[], root: string = DEMO_ROOT): DemoHost {
  const dir = join(root, 'hosts', name);
  const hooks = join(dir, 'hooks');
  const configPath = join(dir, 'bootstrap.ini');
  if (!existsSync(configPath)) {
    mkdirSync(hooks, { recursive: true });
    for (const p of ['haproxy', 'deepfiler']) {
      writeFileSync(join(hooks, `${p}.provision.sh`), PROVISION);
      writeFileSync(join(hooks, `${p}.upgrade.sh`), UPGRADE);
      writeFileSync(join(hooks, `${p}.check.sh`), CHECK);
      for (const f of ['provision', 'upgrade', 'check']) chmodSync(join(hooks, `${p}.${f}.sh`), 0o755);
    }
    writeFileSync(configPath, config(dir));
  }
  return { name, groups, configPath, stateDir: join(dir, 'state') };
}

/**
 * The demo fleet: three hosts on this machine, reached through the local transport. It also
 * writes `inventory.ini` beside them, so the CLI's fleet runs can be tried on it
 * (`--inventory .demo/inventory.ini --select all`).
 */
export function ensureDemoFleet(root: string = DEMO_ROOT): DemoHost[] {
  const hosts = [
    ensureDemoHost('web-1', ['edge', 'eu'], root),
    ensureDemoHost('web-2', ['edge', 'us'], root),
    ensureDemoHost('worker-1', ['workers', 'eu'], root),
  ];
  writeFileSync(demoInventoryPath(root), demoInventory(hosts));
  return hosts;
}

/** Where `ensureDemoFleet` writes the demo fleet's inventory. */
export function demoInventoryPath(root: string = DEMO_ROOT): string {
  return join(root, 'inventory.ini');
}

function demoInventory(hosts: DemoHost[]): string {
  const sections = hosts.map(
    (h) =>
      `[host:${h.name}]\ngroups = ${h.groups.join(', ')}\nconfig_path = ${h.configPath}\nstate_dir = ${h.stateDir}\n`,
  );
  return `; The demo fleet (made by \`npm start\` / \`cloudiq-bootstrap demo\`): hosts on this machine.\n[defaults]\ntransport = local\n\n${sections.join('\n')}`;
}
