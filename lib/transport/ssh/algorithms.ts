/**
 * The algorithms we offer, as exact lists: ssh2's defaults still include `ssh-rsa` (SHA-1)
 * host-key signatures and `hmac-sha1`, and it supports CBC ciphers and `*-sha1` key exchange
 * on request. None of those are offered here, so a server that speaks only them is refused
 * during the handshake, before any key or command is sent.
 */
import type { Algorithms, CipherAlgorithm, KexAlgorithm, MacAlgorithm, ServerHostKeyAlgorithm } from 'ssh2';

const KEX: KexAlgorithm[] = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group-exchange-sha256',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
  'diffie-hellman-group14-sha256',
];

/** `rsa-sha2-*` are signatures made by an `ssh-rsa` key; plain `ssh-rsa` (SHA-1) is left out. */
const HOST_KEY: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
];

// AES-GCM first: the measured fastest here (AES-NI), as ssh2 orders it too.
const CIPHER: CipherAlgorithm[] = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
];

const MAC: MacAlgorithm[] = [
  'hmac-sha2-256-etm@openssh.com',
  'hmac-sha2-512-etm@openssh.com',
  'hmac-sha2-256',
  'hmac-sha2-512',
];

/** Which host-key algorithms sign with which key type, as known_hosts names the key. */
const KEY_TYPE_OF: Record<ServerHostKeyAlgorithm, string> = {
  'ssh-ed25519': 'ssh-ed25519',
  'ecdsa-sha2-nistp256': 'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384': 'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521': 'ecdsa-sha2-nistp521',
  'rsa-sha2-512': 'ssh-rsa',
  'rsa-sha2-256': 'ssh-rsa',
  'ssh-rsa': 'ssh-rsa',
  'ssh-dss': 'ssh-dss',
};

/**
 * The algorithm lists for one connection. When the host's trusted key types are known (from
 * known_hosts), those host-key algorithms come first, as OpenSSH orders them, so a host with
 * several keys presents the one we can check rather than one we have never seen.
 */
export function sshAlgorithms(knownKeyTypes: readonly string[] = []): Algorithms {
  const preferred = HOST_KEY.filter((algo) => knownKeyTypes.includes(KEY_TYPE_OF[algo]));
  const rest = HOST_KEY.filter((algo) => !preferred.includes(algo));
  return {
    kex: [...KEX],
    serverHostKey: [...preferred, ...rest],
    cipher: [...CIPHER],
    hmac: [...MAC],
    compress: ['none'],
  };
}

/** The key types whose host keys we can verify (what known_hosts lines may name). */
export const HOST_KEY_TYPES: readonly string[] = [...new Set(HOST_KEY.map((algo) => KEY_TYPE_OF[algo]))];
