/**
 * Where and how to reach one SSH host: address, user, keys, host-key trust, and the hop in
 * front of it. `resolveEndpoint` fills in OpenSSH's defaults once, and gives each endpoint an id
 * so that a pool shares one connection between everything that names the same host the same way.
 */
import { createHash } from 'node:crypto';
import { BootstrapError } from '../../errors.ts';
import { present } from '../../optional.ts';
import type { KeySource } from './auth.ts';
import { configureEndpoint } from './configured-endpoint.ts';
import type { HostKeyPolicy } from './host-keys.ts';
import { normalizeFingerprint } from './host-keys.ts';
import type { SshEndpoint } from './ssh-address.ts';

export type { SshEndpoint } from './ssh-address.ts';
export { parseSshAddress } from './ssh-address.ts';

export interface ResolvedEndpoint {
  host: string;
  port: number;
  user: string;
  keys: KeySource;
  trust: HostKeyPolicy;
  jump: ResolvedEndpoint | null;
  /** From the ssh config (ConnectTimeout, ServerAliveInterval/CountMax); the pool's settings otherwise. */
  timing: { connectTimeoutMs?: number; keepaliveIntervalMs?: number; keepaliveCountMax?: number };
  /** `user@host:port`, for messages. */
  label: string;
  /** Equal for endpoints that may share a connection. */
  id: string;
}

/** Fills in defaults and checks what can be checked before connecting (INVALID_REQUEST). */
export function resolveEndpoint(given: SshEndpoint, depth = 0): ResolvedEndpoint {
  if (depth > 8) throw new BootstrapError('INVALID_REQUEST', 'too many jump hosts (more than 8)', {});
  const endpoint = configureEndpoint(given);
  const host = endpoint.host.trim();
  if (host === '' || /[\s@/]/.test(host)) {
    throw new BootstrapError('INVALID_REQUEST', `invalid ssh host ${JSON.stringify(endpoint.host)}`, {
      host,
    });
  }
  const port = endpoint.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BootstrapError('INVALID_REQUEST', `invalid ssh port ${port}`, { host, port });
  }
  const user = endpoint.user;
  const pins =
    endpoint.hostKey === undefined
      ? []
      : typeof endpoint.hostKey === 'string'
        ? [endpoint.hostKey]
        : [...endpoint.hostKey];
  const hostKeys = pins.map((pin) => {
    const fingerprint = normalizeFingerprint(pin);
    if (fingerprint === null) {
      throw new BootstrapError(
        'INVALID_REQUEST',
        `invalid host key fingerprint ${JSON.stringify(pin)} (expected SHA256:…)`,
        {
          host,
          hostKey: pin,
        },
      );
    }
    return fingerprint;
  });
  const [knownHostsFile, ...otherUserFiles] = endpoint.knownHostsFiles;
  const trust: HostKeyPolicy =
    hostKeys.length > 0
      ? { hostKeys }
      : {
          ...present({ knownHostsFile }),
          moreKnownHostsFiles: [...otherUserFiles, ...endpoint.globalKnownHostsFiles],
          acceptNew: endpoint.acceptNewHostKey === true,
          ...present({ hostKeyAlias: endpoint.hostKeyAlias }),
        };
  const keys: KeySource = {};
  if (endpoint.identity !== undefined) keys.identity = endpoint.identity;
  if (endpoint.identityFiles.length > 0) keys.identityFiles = endpoint.identityFiles;
  if (!endpoint.agentKeys) keys.agentKeys = false;
  if (endpoint.privateKey !== undefined) keys.privateKey = endpoint.privateKey;
  if (endpoint.passphrase !== undefined) keys.passphrase = endpoint.passphrase;
  if (endpoint.agent !== undefined) keys.agent = endpoint.agent;
  const jump = endpoint.jump ? resolveEndpoint(endpoint.jump, depth + 1) : null;
  const timing: ResolvedEndpoint['timing'] = {};
  if (endpoint.connectTimeoutMs !== undefined) timing.connectTimeoutMs = endpoint.connectTimeoutMs;
  if (endpoint.keepaliveIntervalMs !== undefined) timing.keepaliveIntervalMs = endpoint.keepaliveIntervalMs;
  if (endpoint.keepaliveCountMax !== undefined) timing.keepaliveCountMax = endpoint.keepaliveCountMax;
  const label = `${user}@${host.includes(':') ? `[${host}]` : host}:${port}`;
  // Key text and passphrases enter the id only as a digest: ids may appear in diagnostics.
  const secret = createHash('sha256')
    .update(`${keys.privateKey ?? ''}\0${keys.passphrase ?? ''}`)
    .digest('hex')
    .slice(0, 16);
  const id = JSON.stringify([
    label,
    keys.identity ?? null,
    keys.identityFiles ?? null,
    keys.agentKeys ?? true,
    secret,
    keys.agent ?? null,
    trust,
    timing,
    jump?.id ?? null,
  ]);
  return { host, port, user, keys, trust, jump, timing, label, id };
}
