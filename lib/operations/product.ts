import type { ProductConfig } from '../config/bootstrap-config.ts';
import { assertValue } from '../config/names.ts';
import { nameRecord, ownValue } from '../config/records.ts';
import { BootstrapError } from '../errors.ts';
import { NOW_MARKER } from '../host/programs.ts';
import { quickOperationId } from './ids.ts';
import { type DryRun, runQuickWrite } from './quick-write.ts';
import { expect, productPath, type Snapshot } from './snapshot.ts';
import { type ProductFile, renderProductIni } from './state.ts';
import type { HostTarget, RunOptions } from './target.ts';

export interface ProductAnswer {
  product: string;
  config: Record<string, string>;
  state: ProductFile['state'];
}

export function requireProduct(snapshot: Snapshot, host: HostTarget, product: string): ProductConfig {
  const config = ownValue(snapshot.config.products, product);
  if (!config) {
    throw new BootstrapError(
      'UNKNOWN_PRODUCT',
      `${host.name}: no product ${JSON.stringify(product)} in ${snapshot.config.file}`,
      {
        server: host.name,
        product,
        known: Object.keys(snapshot.config.products),
      },
    );
  }
  return config;
}

function requireKey(host: HostTarget, product: ProductConfig, key: string): void {
  if (!product.keys.includes(key)) {
    throw new BootstrapError(
      'INVALID_KEY',
      `${host.name}: ${product.name} has no key ${JSON.stringify(key)}`,
      {
        server: host.name,
        product: product.name,
        key,
        allowed: product.keys,
      },
    );
  }
}

export function productFile(snapshot: Snapshot, product: string): ProductFile {
  return snapshot.products.get(product) ?? { config: nameRecord(), state: {} };
}

/** `product.get P` / `product.get P K` (SPEC 2.5.1). */
export function productGet(snapshot: Snapshot, host: HostTarget, product: string, key?: string) {
  const config = requireProduct(snapshot, host, product);
  const file = productFile(snapshot, product);
  if (key !== undefined) {
    requireKey(host, config, key);
    return { product, key, value: ownValue(file.config, key) ?? null };
  }
  return { product, config: file.config, state: file.state } satisfies ProductAnswer;
}

/** `product.set P K=V…`: all pairs at once or none, under the lock. */
export function productSet(
  host: HostTarget,
  product: string,
  values: Record<string, string>,
  options: RunOptions,
): Promise<ProductAnswer | DryRun> {
  if (Object.keys(values).length === 0) {
    throw new BootstrapError('INVALID_REQUEST', 'product.set needs at least one KEY=VALUE', { product });
  }
  const operationId = quickOperationId(options);
  // bootstrap.ini and this product's file: the only ones the write depends on.
  return runQuickWrite(host, options, { products: [product] }, (snapshot) => {
    const config = requireProduct(snapshot, host, product);
    for (const [key, value] of Object.entries(values)) {
      requireKey(host, config, key);
      assertValue(product, key, value);
    }
    const current = productFile(snapshot, product);
    const next: ProductFile = {
      config: nameRecord([...Object.entries(current.config), ...Object.entries(values)]),
      state: { ...current.state, updated_at: NOW_MARKER, last_operation: operationId },
    };
    return {
      write: {
        operationId,
        command: 'product.set',
        waitLockSeconds: options.waitLockSeconds ?? 0,
        expect: expect(snapshot, 'config', `product:${product}`),
        writes: [{ path: productPath(host, product), content: renderProductIni(next) }],
      },
      answer: (now) => ({ product, config: next.config, state: { ...next.state, updated_at: now } }),
    };
  });
}
