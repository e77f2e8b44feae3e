/**
 * A Fleet over an INI inventory (SPEC 3.1) for `serve --inventory` and the Lambda functions,
 * through lib/orchestrate's `createInventoryFleet`, which builds each host's transport.
 *
 * That module is imported by a computed name until it lands, so that this file compiles
 * without it; once it exists, the import below becomes a plain static one (bundlers need that).
 */
import { type Inventory, loadInventory, parseInventory } from '../config/inventory.ts';
import { BootstrapError } from '../errors.ts';
import type { Fleet } from '../orchestrate/fleet.ts';

/** What the Lambda composition root hands over for the hosts' transports. */
export interface InventoryFleetOptions {
  /** SSH credentials from Secrets Manager, in place of the inventory's `identity` / `known_hosts` files. */
  ssh?: { privateKey?: string; passphrase?: string; knownHosts?: string };
  /** The SSM client, built once per cold start. */
  ssm?: { client: unknown };
  local?: { shell?: string };
}

type CreateInventoryFleet = (inventory: Inventory, options: InventoryFleetOptions) => Fleet;

const MODULE = ['..', 'orchestrate', 'inventory-fleet.ts'].join('/');

async function factory(): Promise<CreateInventoryFleet> {
  let loaded: { createInventoryFleet?: CreateInventoryFleet };
  try {
    loaded = (await import(MODULE)) as { createInventoryFleet?: CreateInventoryFleet };
  } catch (error) {
    throw new BootstrapError(
      'INTERNAL',
      'inventory fleets are not available in this build',
      {},
      { cause: error },
    );
  }
  if (typeof loaded.createInventoryFleet !== 'function') {
    throw new BootstrapError(
      'INTERNAL',
      'lib/orchestrate/inventory-fleet.ts exports no createInventoryFleet',
    );
  }
  return loaded.createInventoryFleet;
}

/** A Fleet over an inventory already parsed (text from S3, SSM Parameter Store or a file). */
export async function createFleetFromInventory(
  inventory: Inventory,
  options: InventoryFleetOptions = {},
): Promise<Fleet> {
  return (await factory())(inventory, options);
}

/** Reads an inventory file and builds its Fleet; `BOOTSTRAP_LOCAL_SHELL` picks the local hosts' shell. */
export async function loadInventoryFleet(
  file: string,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<Fleet> {
  const inventory = await loadInventory(file);
  const shell = env['BOOTSTRAP_LOCAL_SHELL'];
  return createFleetFromInventory(inventory, shell ? { local: { shell } } : {});
}

/** Parses inventory text read from elsewhere (S3, SSM); `source` names it in errors. */
export function inventoryFromText(text: string, source: string): Inventory {
  return parseInventory(text, source);
}
