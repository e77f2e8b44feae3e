/**
 * The CLI and `serve` list an inventory's dynamic sources (SPEC 3.1 v2) once per run, before any
 * selection. As composition roots they build the AWS clients here, from the SDK's standard chain
 * (AWS_PROFILE or `--profile`, AWS_ENDPOINT_URL_EC2, …) with each source's region, and destroy
 * them once listed.
 * The SDK modules are loaded only when the inventory has sources of their kind.
 */

import { expandInventory, hasDynamicSources, type SourceClients } from '../config/dynamic-inventory.ts';
import type { Inventory } from '../config/inventory.ts';
import { awsClientConfig } from '../transport/aws-http.ts';

/** The inventory with its sources' instances added; the same inventory when it has no sources. */
export async function listDynamicHosts(inventory: Inventory, profile?: string): Promise<Inventory> {
  if (!hasDynamicSources(inventory)) return inventory;
  const kinds = new Set(inventory.sources?.map((source) => source.kind));
  const ec2 = kinds.has('ec2') ? await import('@aws-sdk/client-ec2') : undefined;
  const ssm = kinds.has('ssm') ? await import('../transport/ssm/sdk-commands.ts') : undefined;
  const made = new Map<string, { destroy(): void }>();
  const once = <T extends { destroy(): void }>(key: string, make: () => T): T => {
    let client = made.get(key) as T | undefined;
    if (!client) {
      client = make();
      made.set(key, client);
    }
    return client;
  };
  const config = (region: string | null) => awsClientConfig(region, profile);
  const clients: SourceClients = {
    ec2For: (region) => once(`ec2:${region}`, () => new ec2!.EC2Client(config(region))),
    ssmFor: (region) => once(`ssm:${region}`, () => new ssm!.SSMClient(config(region))),
  };
  try {
    return await expandInventory(inventory, clients);
  } finally {
    for (const client of made.values()) client.destroy();
  }
}
