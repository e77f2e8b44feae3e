/**
 * An endpoint completed from OpenSSH's client configuration, as `ssh NAME` completes it: what the
 * caller set explicitly (flags, inventory keys) wins, the configuration fills the rest, and
 * OpenSSH's defaults come last. A `ProxyJump` chain becomes nested jump endpoints, each hop
 * looked up under its own name, so a bastion uses its own user, key and known_hosts.
 */
import { present } from '../../optional.ts';
import { homeDirectory } from './home.ts';
import type { SshEndpoint } from './ssh-address.ts';
import { parseSshAddress } from './ssh-address.ts';
import { defaultSshConfigFiles, expandSshPath, localUserName, sshConfigFor } from './ssh-config.ts';

/** OpenSSH's default known_hosts files: the user's, then the system's (read after, never written). */
export const DEFAULT_USER_KNOWN_HOSTS = ['~/.ssh/known_hosts', '~/.ssh/known_hosts2'];
export const DEFAULT_GLOBAL_KNOWN_HOSTS = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

export interface ConfiguredEndpoint extends SshEndpoint {
  host: string;
  port: number;
  user: string;
  /** IdentityFiles from the configuration, expanded; missing ones are skipped as OpenSSH does. */
  identityFiles: string[];
  /** Offer the agent's other keys too (OpenSSH's `IdentitiesOnly no`). */
  agentKeys: boolean;
  /** User known_hosts files in order: the first records accepted new keys. */
  knownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  /** The name looked up in known_hosts instead of the host (`HostKeyAlias`). */
  hostKeyAlias?: string;
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

/** Completes `endpoint` from the ssh configuration (its `jump`, if any, is completed when resolved). */
export function configureEndpoint(endpoint: SshEndpoint): ConfiguredEndpoint {
  const name = endpoint.host.trim();
  const files =
    endpoint.sshConfig === false
      ? []
      : endpoint.sshConfig === undefined
        ? defaultSshConfigFiles()
        : [endpoint.sshConfig];
  const config = sshConfigFor(name, files, { defaults: endpoint.sshConfig === undefined });
  if (config.strictRefusal && endpoint.acceptNewHostKey === undefined && endpoint.hostKey === undefined)
    throw config.strictRefusal;
  const host = config.hostName ?? name;
  const port = endpoint.port ?? config.port ?? 22;
  const user = endpoint.user ?? config.user ?? localUserName();
  const jumpText = Array.isArray(config.proxyJump) ? config.proxyJump.join(',') : undefined;
  const tokens = {
    host,
    original: name,
    port,
    user,
    ...present({ hostKeyAlias: config.hostKeyAlias }),
    ...present({ proxyJump: jumpText }),
  };
  const expand = (paths: readonly string[]) => paths.map((path) => expandSshPath(path, tokens));
  const explicitKey = endpoint.identity !== undefined || endpoint.privateKey !== undefined;
  const inheritedKey = endpoint.inherit?.identity !== undefined || endpoint.inherit?.privateKey !== undefined;
  const out: ConfiguredEndpoint = {
    ...endpoint,
    host,
    port,
    user,
    identityFiles: explicitKey || inheritedKey ? [] : expand(config.identityFiles),
    agentKeys: !explicitKey && config.identitiesOnly !== true,
    knownHostsFiles:
      endpoint.knownHosts !== undefined
        ? [endpoint.knownHosts]
        : expand(
            config.userKnownHostsFiles ??
              inheritedOr(
                endpoint.inherit?.knownHosts,
                homeDirectory() === undefined ? [] : DEFAULT_USER_KNOWN_HOSTS,
              ),
          ),
    globalKnownHostsFiles: expand(config.globalKnownHostsFiles ?? DEFAULT_GLOBAL_KNOWN_HOSTS),
  };
  // A hop's inherited key counts only where the configuration names none for the hop itself.
  if (!explicitKey && inheritedKey) {
    if (config.identityFiles.length > 0) out.identityFiles = expand(config.identityFiles);
    else if (endpoint.inherit?.identity !== undefined) out.identity = endpoint.inherit.identity;
    else if (endpoint.inherit?.privateKey !== undefined) out.privateKey = endpoint.inherit.privateKey;
  }
  if (config.identityAgent !== undefined && endpoint.agent === undefined)
    out.agent = config.identityAgent === false ? false : expandAgent(config.identityAgent, tokens);
  if (endpoint.acceptNewHostKey === undefined && config.strictHostKeyChecking !== undefined)
    out.acceptNewHostKey = config.strictHostKeyChecking === 'accept-new';
  if (config.hostKeyAlias !== undefined) out.hostKeyAlias = config.hostKeyAlias;
  if (config.connectTimeoutMs !== undefined && config.connectTimeoutMs > 0)
    out.connectTimeoutMs = config.connectTimeoutMs;
  // ServerAliveInterval 0 (OpenSSH's default: off) keeps our own keepalive, which finds dead hosts.
  if (config.serverAliveIntervalMs !== undefined && config.serverAliveIntervalMs > 0)
    out.keepaliveIntervalMs = config.serverAliveIntervalMs;
  if (config.serverAliveCountMax !== undefined && config.serverAliveCountMax > 0)
    out.keepaliveCountMax = config.serverAliveCountMax;
  if (endpoint.jump === undefined && Array.isArray(config.proxyJump)) {
    const chain = jumpChain(config.proxyJump, endpoint.sshConfig, endpoint.hops);
    if (chain) out.jump = chain;
  }
  if (out.jump === null) delete out.jump;
  return out;
}

/**
 * `ProxyJump a,b`: the target is reached through b, b through a (b's own ProxyJump is overridden
 * by the chain, as `ssh -J a,b` does), and a as its own configuration says.
 */
function jumpChain(
  hops: readonly string[],
  sshConfig: SshEndpoint['sshConfig'],
  lent: SshEndpoint['hops'],
): SshEndpoint | undefined {
  let previous: SshEndpoint | undefined;
  for (const [index, hop] of hops.entries()) {
    const address = parseSshAddress(hop);
    const endpoint: SshEndpoint = { ...address, ...present({ sshConfig }), ...hopShare(lent) };
    if (index > 0) endpoint.jump = previous ?? null;
    previous = endpoint;
  }
  return previous;
}

/**
 * What a hop takes from the endpoint it leads to (`hops`): its key and known_hosts as `inherit`
 * (used only where neither the hop nor the ssh config names its own), accept-new, and the same
 * for its own hops.
 */
function hopShare(lent: SshEndpoint['hops']): Pick<SshEndpoint, 'inherit' | 'acceptNewHostKey' | 'hops'> {
  if (lent === undefined) return {};
  const { acceptNewHostKey, ...trust } = lent;
  return {
    ...(Object.keys(trust).length > 0 ? { inherit: trust } : {}),
    ...(acceptNewHostKey ? { acceptNewHostKey: true } : {}),
    hops: lent,
  };
}

function inheritedOr(inherited: string | undefined, defaults: readonly string[]): string[] {
  return inherited === undefined ? [...defaults] : [inherited];
}

function expandAgent(socket: string, tokens: Parameters<typeof expandSshPath>[1]): string | false {
  if (socket === 'SSH_AUTH_SOCK') return process.env['SSH_AUTH_SOCK'] ?? false;
  if (socket.startsWith('$')) return process.env[socket.slice(1)] ?? false;
  return expandSshPath(socket, tokens);
}
