// Names that are also properties of JavaScript objects (`constructor`, `toString`, `__proto__`,
// `hasOwnProperty`, `valueOf`, …) are only names: in bootstrap.ini, state files, inventories,
// command lines and API bodies. An unknown one is unknown (UNKNOWN_PRODUCT, UNKNOWN_ROLE,
// UNKNOWN_SERVER, INVALID_KEY), a defined one works like any other, and `__proto__`, which the
// INI reader would silently drop, is refused as CONFIG_ERROR rather than lost.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseBootstrapConfig } from '../../lib/config/bootstrap-config.ts';
import { parseIni, stringifyIni } from '../../lib/config/ini-file.ts';
import { parseInventory, selectHosts } from '../../lib/config/inventory.ts';
import { NAME_PATTERN } from '../../lib/config/names.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { productGet } from '../../lib/operations/product.ts';
import type { Snapshot } from '../../lib/operations/snapshot.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { type ApiFixture, assertError, createApiFixture } from '../api/fixture.ts';
import { runCli } from '../support/cli.ts';
import { bootstrapIni, createSandbox, type Sandbox } from '../support/sandbox.ts';

/** Every property an object inherits, and a few more that code tends to look up. */
const PROTO_NAMES = [...Object.getOwnPropertyNames(Object.prototype), 'prototype', 'then', 'length', 'name'];
/** Those that SPEC 2.1's patterns accept as product, role and key names. */
const PROTO_SPEC_NAMES = PROTO_NAMES.filter((name) => NAME_PATTERN.test(name));

const code = (expected: string) => (error: unknown) =>
  error instanceof BootstrapError && error.code === expected;

describe('JavaScript property names are only names', () => {
  it('the INI reader refuses __proto__ sections and keys instead of dropping them', () => {
    for (const text of [
      '[__proto__]\nmodes = a\n',
      '[server]\n__proto__ = x\n',
      '[server]\n"__proto__" = x\n',
      '[server]\n__proto__[] = x\n',
      '[product:a.__proto__]\nkeys = k\n',
    ]) {
      assert.throws(() => parseIni(text, 'x.ini'), code('CONFIG_ERROR'), text);
      assert.throws(
        () => parseBootstrapConfig(`[server]\nmodes = a\n${text}`, 'x.ini'),
        code('CONFIG_ERROR'),
      );
    }
    const doc = parseIni('[server]\nconstructor = 1\ntoString = 2\nhasOwnProperty = 3\n');
    assert.deepEqual({ ...doc['server'] }, { constructor: '1', toString: '2', hasOwnProperty: '3' });
    assert.equal(doc['constructor'], undefined, 'no section is inherited');
    const round = parseIni(stringifyIni(doc));
    assert.deepEqual({ ...round['server'] }, { ...doc['server'] });
  });

  it('bootstrap.ini: a role naming an undefined product `constructor` is CONFIG_ERROR', () => {
    const text = '[server]\nmodes = a\n[role:edge]\nproducts = constructor\n';
    assert.throws(() => parseBootstrapConfig(text, 'b.ini'), code('CONFIG_ERROR'));
    const config = parseBootstrapConfig('[server]\nmodes = a\n', 'b.ini');
    for (const name of PROTO_NAMES) {
      assert.equal(config.products[name], undefined, name);
      assert.equal(config.roles[name], undefined, name);
    }
  });

  it('inventory: hosts and groups named like properties are selected by name, others are unknown', () => {
    const inventory = parseInventory(
      [
        '[defaults]',
        'transport = local',
        '[host:constructor]',
        'groups = constructor',
        '[host:toString]',
        'groups = tostring',
        '[host:hasOwnProperty]',
      ].join('\n'),
      'inv.ini',
    );
    const names = (selector: string) => selectHosts(inventory, selector).map((h) => h.name);
    assert.deepEqual(names('all'), ['constructor', 'toString', 'hasOwnProperty']);
    assert.deepEqual(names('group:constructor'), ['constructor']);
    assert.deepEqual(names('toString,hasOwnProperty'), ['toString', 'hasOwnProperty']);
    for (const unknown of ['valueOf', 'isPrototypeOf', 'group:tostring2', 'group:valueof'])
      assert.throws(() => selectHosts(inventory, unknown), code('UNKNOWN_SERVER'), unknown);
    assert.throws(() => parseInventory('[defaults]\nconstructor = x\n', 'inv.ini'), code('CONFIG_ERROR'));
    assert.throws(() => parseInventory('[host:a]\n__proto__ = x\n', 'inv.ini'), code('CONFIG_ERROR'));
  });

  it('property: over any mix of defined and property names, lookups find exactly the defined ones', () => {
    const validName = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/);
    const candidate = fc.oneof(fc.constantFrom(...PROTO_SPEC_NAMES), validName);
    fc.assert(
      fc.property(
        fc.uniqueArray(candidate, { minLength: 1, maxLength: 6 }),
        fc.array(candidate),
        (defined, asked) => {
          const text = [
            '[server]',
            'modes = a',
            `[role:${defined[0]}]`,
            `products = ${defined.join(', ')}`,
            ...defined.flatMap((name) => [`[product:${name}]`, `keys = ${defined.join(', ')}`]),
          ].join('\n');
          const config = parseBootstrapConfig(text, 'p.ini');
          assert.deepEqual(Object.keys(config.products).sort(), [...defined].sort());
          const snapshot = { config, products: new Map() } as unknown as Snapshot;
          const host = { name: 'h' } as HostTarget;
          for (const name of [...asked, ...PROTO_NAMES]) {
            if (defined.includes(name)) {
              assert.deepEqual(JSON.parse(JSON.stringify(productGet(snapshot, host, name))), {
                product: name,
                config: {},
                state: {},
              });
              for (const key of PROTO_NAMES.filter((k) => !defined.includes(k)))
                assert.throws(() => productGet(snapshot, host, name, key), code('INVALID_KEY'), key);
            } else {
              assert.throws(() => productGet(snapshot, host, name), code('UNKNOWN_PRODUCT'), name);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('property names through the CLI and the API on sandbox hosts', () => {
  let sb: Sandbox;
  let api: ApiFixture;
  const on = (...argv: string[]) => [
    '--config',
    sb.configPath,
    '--state-dir',
    sb.stateDir,
    '--json',
    ...argv,
  ];
  /** The sandbox's config with `constructor` among haproxy's keys and a product named `constructor`. */
  const withConstructor = (root: string) =>
    `${bootstrapIni(root).replace('keys = maxconn, frontend_port, motd', 'keys = maxconn, constructor, motd')}
[product:constructor]
keys = threads
`;

  before(() => {
    sb = createSandbox();
    api = createApiFixture();
  });
  after(async () => {
    sb.cleanup();
    await api.close();
  });

  async function fails(argv: string[], expected: string): Promise<void> {
    const run = await runCli(on(...argv));
    assert.equal(JSON.parse(run.stdout).error?.code, expected, `${argv.join(' ')}: ${run.stdout}`);
    assert.equal(run.code, 2);
  }

  it('undefined names are unknown, never built-ins', async () => {
    await fails(['product.get', 'constructor'], 'UNKNOWN_PRODUCT');
    await fails(['product.set', 'constructor', 'x=1'], 'UNKNOWN_PRODUCT');
    await fails(['product.upgrade', 'constructor', '1.0'], 'UNKNOWN_PRODUCT');
    await fails(['product.get', 'haproxy', 'constructor'], 'INVALID_KEY');
    await fails(['product.set', 'haproxy', 'constructor=1'], 'INVALID_KEY');
    await fails(['product.set', 'haproxy', 'toString=1'], 'INVALID_KEY');
    await fails(['server.provision', '--role', 'constructor'], 'UNKNOWN_ROLE');
  });

  it('help for a command named like a property is the main help, never a built-in', async () => {
    for (const word of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const run = await runCli([word, '--help']);
      assert.doesNotMatch(run.stdout, /native code|\[object /, word);
      assert.match(run.stdout, /product\.upgrade/, word);
      const bare = await runCli([word, '--json']);
      assert.equal(JSON.parse(bare.stdout).error.code, 'INVALID_REQUEST', word);
    }
  });

  it('a key and a product named constructor work like any other', async () => {
    sb.writeConfig(withConstructor(sb.root));
    const set = await runCli(on('product.set', 'haproxy', 'constructor=x', 'maxconn=10'));
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.deepEqual(JSON.parse(set.stdout).config, { constructor: 'x', maxconn: '10' });
    const one = await runCli(on('product.get', 'haproxy', 'constructor'));
    assert.deepEqual(JSON.parse(one.stdout), { product: 'haproxy', key: 'constructor', value: 'x' });
    const product = await runCli(on('product.set', 'constructor', 'threads=4'));
    assert.equal(product.code, 0, product.stdout + product.stderr);
    assert.deepEqual(JSON.parse(product.stdout).config, { threads: '4' });
    const get = await runCli(on('product.get', 'constructor'));
    assert.deepEqual(JSON.parse(get.stdout).config, { threads: '4' });
  });

  it('API: PATCH with a constructor key sets it; __proto__ is an invalid key, never dropped', async () => {
    const web1 = api.sandboxes['web-1'];
    assertError(await api.call('GET', '/servers/web-1/products/constructor'), 404, 'UNKNOWN_PRODUCT');
    assertError(
      await api.call('PATCH', '/servers/web-1/products/constructor/config', { body: { threads: '1' } }),
      404,
      'UNKNOWN_PRODUCT',
    );
    assertError(
      await api.call('PATCH', '/servers/web-1/products/haproxy/config', { body: { constructor: 'x' } }),
      422,
      'INVALID_KEY',
    );
    web1.writeConfig(withConstructor(web1.root));
    const patched = await api.call('PATCH', '/servers/web-1/products/haproxy/config', {
      raw: '{"constructor":"x","maxconn":"7"}',
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.config, { constructor: 'x', maxconn: '7' });
    for (const raw of ['{"__proto__":"x"}', '{"__proto__":"x","maxconn":"8"}', '{"toString":"x"}']) {
      assertError(
        await api.call('PATCH', '/servers/web-1/products/haproxy/config', { raw }),
        422,
        'INVALID_KEY',
      );
    }
    const after = await api.call('GET', '/servers/web-1/products/haproxy');
    assert.deepEqual(after.body.config, { constructor: 'x', maxconn: '7' }, 'a refused body changed nothing');
  });
});
