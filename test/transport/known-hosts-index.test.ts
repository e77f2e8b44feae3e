import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadHostKeyCheck } from '../../lib/transport/ssh/host-keys.ts';

/** An ssh-ed25519 key blob (SSH wire format), and its known_hosts text. */
function ed25519(): { blob: Buffer; text: string } {
  const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  const raw = der.subarray(der.length - 32);
  const field = (b: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length);
    return Buffer.concat([length, b]);
  };
  const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
  return { blob, text: `ssh-ed25519 ${blob.toString('base64')}` };
}

describe('known_hosts lookups: plain names indexed, patterns matched, file order kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'known-hosts-index-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const fleet = Array.from({ length: 300 }, () => ed25519());
  const other = ed25519();
  const file = join(dir, 'known_hosts');
  writeFileSync(
    file,
    [
      // A pattern line before the plain ones: a second key for every web host but web-7.
      `web-*,!web-7 ${other.text}`,
      ...fleet.map((key, i) => `web-${i},10.0.${i >> 8}.${i & 255} ${key.text}`),
      // A revoked key listed by pattern outranks its plain listing.
      `@revoked web-2?? ${fleet[250]?.text}`,
      '',
    ].join('\n'),
  );
  const trust = { knownHostsFile: file };
  const verdict = async (name: string, blob: Buffer) =>
    (await loadHostKeyCheck(trust, name, 22)).verify(blob);

  it('finds a host by any of its plain names, in either case', async () => {
    assert.equal((await verdict('web-3', fleet[3]!.blob)).ok, true);
    assert.equal((await verdict('WEB-3', fleet[3]!.blob)).ok, true);
    assert.equal((await verdict('10.0.1.4', fleet[260]!.blob)).ok, true);
    assert.equal((await verdict('10.0.1.4', fleet[3]!.blob)).ok, false);
  });

  it('adds the pattern lines that match, and honours their negation', async () => {
    assert.equal((await verdict('web-3', other.blob)).ok, true);
    assert.equal((await verdict('web-7', other.blob)).ok, false, 'web-7 is excluded by its pattern line');
    assert.equal((await verdict('web-7', fleet[7]!.blob)).ok, true, 'its own plain line still holds');
  });

  it('reports a changed key with the lines in file order, and a revoked one as revoked', async () => {
    const changed = await verdict('web-5', ed25519().blob);
    assert.equal(changed.ok, false);
    assert.match(changed.ok ? '' : changed.message, /\(line 1, 7\)/);
    const revoked = await verdict('web-250', fleet[250]!.blob);
    assert.equal(revoked.ok, false);
    assert.equal(revoked.ok ? '' : revoked.reason, 'revoked');
  });
});
