/**
 * One product's hook as a step of a long command (SPEC 2.4): the hook's path from bootstrap.ini,
 * its `BOOTSTRAP_CFG_*` environment, and the product file the runner writes before the hook runs,
 * after it succeeds and after it fails.
 */
import type { ProductConfig } from '../config/bootstrap-config.ts';
import { BootstrapError } from '../errors.ts';
import { type FileWrite, type HookStep, NOW_MARKER } from '../host/programs.ts';
import { present } from '../optional.ts';
import { productFile, requireProduct } from './product.ts';
import { productPath, type Snapshot } from './snapshot.ts';
import { type ProductFile, renderProductIni } from './state.ts';
import type { HostTarget } from './target.ts';

/** `BOOTSTRAP_CFG_<KEY>`: upper case, `.` and `-` as `_` (SPEC 2.4). */
export function configEnv(config: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(config))
    env[`BOOTSTRAP_CFG_${key.toUpperCase().replace(/[.-]/g, '_')}`] = value;
  return env;
}

function hookPath(host: HostTarget, product: ProductConfig, action: HookStep['action']): string {
  const path = product[action];
  if (path === null) {
    throw new BootstrapError(
      'INVALID_SCRIPT',
      `${host.name}: ${product.name} has no ${action} hook in bootstrap.ini`,
      {
        server: host.name,
        product: product.name,
        action,
        reason: 'missing',
      },
    );
  }
  return path;
}

function stateWrite(
  host: HostTarget,
  product: string,
  file: ProductFile,
  state: ProductFile['state'],
): FileWrite {
  return {
    path: productPath(host, product),
    content: renderProductIni({ config: file.config, state: { ...file.state, ...state } }),
  };
}

/** What a hook step is asked to run: one product's hook, and for an upgrade the version it installs. */
export interface HookRequest {
  product: string;
  action: HookStep['action'];
  version?: string;
}

/**
 * `product`'s hook as operation `id` runs it: the product's status is `provisioning` or
 * `upgrading` while it runs, then `provisioned` (with the new version, for an upgrade) or
 * `failed`. Refuses (UNKNOWN_PRODUCT, INVALID_SCRIPT) before anything runs.
 */
export function hookStep(host: HostTarget, snapshot: Snapshot, id: string, request: HookRequest): HookStep {
  const { product, action, version } = request;
  const config = requireProduct(snapshot, host, product);
  const file = productFile(snapshot, product);
  const touch = { updated_at: NOW_MARKER, last_operation: id };
  const running = action === 'provision' ? 'provisioning' : 'upgrading';
  return {
    product,
    action,
    path: hookPath(host, config, action),
    ...present({ version }),
    env: configEnv(file.config),
    before: stateWrite(host, product, file, { status: running, ...touch }),
    onSuccess: stateWrite(host, product, file, { ...present({ version }), status: 'provisioned', ...touch }),
    onFailure: stateWrite(host, product, file, { status: 'failed', ...touch }),
  };
}
