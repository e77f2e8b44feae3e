/**
 * `product.upgrade PRODUCT VERSION` (SPEC 2.5): the product's upgrade hook with VERSION; on
 * success its file records the version.
 */
import { assertName, VERSION_PATTERN, valueProblem } from '../config/names.ts';
import { BootstrapError } from '../errors.ts';
import { present } from '../optional.ts';
import { hookStep } from './hook-steps.ts';
import type { LongStart } from './long.ts';
import { expect } from './snapshot.ts';

/** The long request of `product.upgrade`; a malformed name or version is refused before any read. */
export function upgradeRequest(args: { product: string; version: string; operationId?: string }): LongStart {
  const { product, version } = args;
  assertName('product', product);
  if (!VERSION_PATTERN.test(version) || valueProblem(version)) {
    throw new BootstrapError('INVALID_REQUEST', `invalid version ${JSON.stringify(version)}`, {
      version,
      pattern: VERSION_PATTERN.source,
    });
  }
  return {
    command: 'product.upgrade',
    ...present({ operationId: args.operationId }),
    stated: { product, version },
    // bootstrap.ini and this product's file: another product's is not read.
    products: [product],
    // The step first: it refuses an unknown product before `expect` asks for its file.
    plan: (host, snapshot, id) => ({
      steps: [hookStep(host, snapshot, id, { product, action: 'upgrade', version })],
      args: { product, version },
      expect: expect(snapshot, 'config', `product:${product}`),
    }),
  };
}
