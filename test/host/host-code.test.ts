// SPEC 2.2 `lib/`: the host code is installed once per host under its SHA-256 and every later
// program sends only its own lines; a cache that is missing, does not match its name, is owned by
// someone else or writable by others is never run: the host answers so before anything else, the
// whole program follows, runs once, and repairs the cache. Under the seven shells the tests use.
import { after, describe, it } from 'node:test';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { type Damage, provesFallback, provesFirstUse, recording } from '../support/host-code.ts';
import { createBusyboxDir } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const SHELLS: Array<[string, string, NodeJS.ProcessEnv]> = [];
const busybox = createBusyboxDir();
SHELLS.push(['dash', '/usr/bin/dash', {}], ['bash', '/bin/bash', {}]);
SHELLS.push(['busybox sh', busybox.shell, { PATH: busybox.dir }]);
for (const shell of ['mksh', 'ksh93', 'posh', 'yash']) SHELLS.push([shell, shell, {}]);

const uid = process.getuid?.() ?? 0;
const DAMAGES: Damage[] = [
  'missing',
  'corrupt',
  'foreign file',
  'foreign lib/',
  'group-writable',
  'other-writable lib/',
];

describe('host code cached on the host, local transport', () => {
  const sandboxes: Sandbox[] = [];
  const fresh = () => {
    const sandbox = createSandbox();
    sandboxes.push(sandbox);
    return sandbox;
  };
  after(() => {
    for (const sandbox of sandboxes) sandbox.cleanup();
    busybox.cleanup();
  });

  for (const [name, shell, env] of SHELLS) {
    it(`${name}: installed on first use, then each program sends only its own lines`, async () => {
      await provesFirstUse(fresh(), recording(createLocalTransport({ shell, env })), uid);
    });
  }

  for (const [name, shell, env] of SHELLS.filter(([n]) =>
    ['dash', 'posh', 'busybox sh', 'ksh93'].includes(n),
  )) {
    for (const kind of DAMAGES) {
      it(`${name}: a ${kind} cache falls back, loses nothing, runs nothing twice, and is repaired`, async () => {
        await provesFallback(fresh(), () => createLocalTransport({ shell, env }), kind, uid);
      });
    }
  }
});
