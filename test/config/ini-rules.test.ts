// A hand-written file (bootstrap.ini, an inventory) means what it says or is refused: the INI
// package would let a second key replace the first, merge a repeated section, nest a section
// whose name holds a dot where nobody reads it, read a bare word as the value "true", and move
// dotted sections to the end of the file. Each case here is a CONFIG_ERROR naming where, or (for
// order) the file's own order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBootstrapConfig } from '../../lib/config/bootstrap-config.ts';
import { parseInventory } from '../../lib/config/inventory.ts';
import { BootstrapError } from '../../lib/errors.ts';

const BOOTSTRAP = `[server]
modes = maintenance, active

[role:edge]
products = haproxy

[product:haproxy]
keys = maxconn
provision = /opt/haproxy/provision.sh
upgrade = /opt/haproxy/upgrade.sh
check = process:haproxy
`;

function refused(parse: () => unknown): BootstrapError {
  try {
    parse();
  } catch (error) {
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, 'CONFIG_ERROR');
    return error;
  }
  assert.fail('expected CONFIG_ERROR');
}

describe('bootstrap.ini: what the INI package would let pass unseen is refused', () => {
  it('reads the plain file (the cases below each change one line of it)', () => {
    assert.deepEqual(parseBootstrapConfig(BOOTSTRAP, '/etc/b.ini').roles['edge'], ['haproxy']);
  });

  it('a key given twice in one section, naming the section and the key', () => {
    const error = refused(() =>
      parseBootstrapConfig(BOOTSTRAP.replace('keys = maxconn', 'keys = maxconn\nkeys = other'), '/etc/b.ini'),
    );
    assert.deepEqual(error.details, { file: '/etc/b.ini', section: 'product:haproxy', key: 'keys' });
  });

  it('a section given twice', () => {
    const error = refused(() => parseBootstrapConfig(`${BOOTSTRAP}\n[role:edge]\nproducts = haproxy\n`, 'f'));
    assert.equal(error.details['section'], 'role:edge');
  });

  it('a section whose name holds a dot is read under that name, and refused by its rules', () => {
    // Nested under [role:edge] by the package, this role named an unknown product unseen.
    const role = refused(() => parseBootstrapConfig(`${BOOTSTRAP}\n[role:edge.eu]\nproducts = nope\n`, 'f'));
    assert.equal(role.details['section'], 'role:edge.eu');
    const server = refused(() => parseBootstrapConfig(`${BOOTSTRAP}\n[server.extra]\nbogus = 1\n`, 'f'));
    assert.equal(server.details['section'], 'server.extra');
  });

  it('a line with no "=" (read as the value "true"), and a header with more on its line', () => {
    const bare = refused(() =>
      parseBootstrapConfig(BOOTSTRAP.replace('modes = maintenance, active', 'modes'), 'f'),
    );
    assert.equal(bare.details['section'], 'server');
    assert.match(bare.message, /"modes": expected KEY = VALUE/);
    const header = refused(() =>
      parseBootstrapConfig(BOOTSTRAP.replace('[role:edge]', '[role:edge] ; the edge'), 'f'),
    );
    assert.match(header.message, /a section header is a whole line/);
  });

  it('comments, blank lines, CRLF and spaces around "=" still read as before', () => {
    const text = `; top\r\n\r\n${BOOTSTRAP.replaceAll('\n', '\r\n').replace('keys = maxconn', '  keys   =   maxconn  ')}# end\r\n`;
    assert.deepEqual(parseBootstrapConfig(text, 'f').products['haproxy']?.keys, ['maxconn']);
  });
});

describe('inventory: the same rules, and hosts in the file’s order', () => {
  it('hosts whose names hold dots stay where the file puts them', () => {
    const inventory = parseInventory(
      [
        '[defaults]',
        'transport = ssh',
        '[host:db.1]',
        'groups = g',
        '[host:web]',
        'groups = g',
        '[host:app.eu.2]',
        'groups = g',
        '[host:app]',
        'groups = g',
      ].join('\n'),
      '/etc/inventory.ini',
    );
    assert.deepEqual(
      inventory.hosts.map((host) => host.name),
      ['db.1', 'web', 'app.eu.2', 'app'],
    );
  });

  it('an address given twice for one host', () => {
    const error = refused(() =>
      parseInventory('[host:web-1]\naddress = 10.0.0.1\naddress = 10.0.0.2\n', '/etc/inventory.ini'),
    );
    assert.deepEqual(error.details, { file: '/etc/inventory.ini', section: 'host:web-1', key: 'address' });
  });
});
