/**
 * Where the cloud side reads its configuration: the inventory from `INVENTORY_SOURCE`
 * (`s3://bucket/key`, `ssm:/parameter/name` or `file:path`), and secrets (the SSH key, the
 * known_hosts, the callback secret) from Secrets Manager. The SDK clients are the caller's, built
 * once per cold start; nothing here creates one. A source that cannot be read is `CONFIG_ERROR`
 * naming the source, never the secret's value.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { BootstrapError } from '../errors.ts';
import { ENV } from './environment.ts';

export type InventorySource =
  | { kind: 's3'; bucket: string; key: string }
  | { kind: 'ssm'; name: string }
  | { kind: 'file'; path: string };

function sourceError(source: string, problem: string, cause?: unknown): BootstrapError {
  return new BootstrapError(
    'CONFIG_ERROR',
    `${source}: ${problem}`,
    { source },
    cause === undefined ? undefined : { cause },
  );
}

/** Parses `INVENTORY_SOURCE`. */
export function parseInventorySource(raw: string): InventorySource {
  const value = raw.trim();
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(value);
  if (s3) return { kind: 's3', bucket: s3[1]!, key: s3[2]! };
  if (value.startsWith('ssm:')) {
    const name = value.slice('ssm:'.length);
    if (/^[A-Za-z0-9_.\-/]{1,2048}$/.test(name)) return { kind: 'ssm', name };
  }
  if (value.startsWith('file:') && value.length > 'file:'.length)
    return { kind: 'file', path: value.slice(5) };
  throw sourceError(
    ENV.inventorySource,
    `expected s3://bucket/key, ssm:/parameter/name or file:path, got ${JSON.stringify(raw)}`,
  );
}

export interface SourceClients {
  s3?: S3Client;
  ssm?: SSMClient;
  /** Relative `file:` paths are taken from here (the function's bundle, `LAMBDA_TASK_ROOT`). */
  baseDir?: string;
}

/** The inventory's text from its source. */
export async function readInventorySource(source: InventorySource, clients: SourceClients): Promise<string> {
  switch (source.kind) {
    case 's3': {
      const name = `s3://${source.bucket}/${source.key}`;
      if (!clients.s3) throw sourceError(name, 'no S3 client');
      try {
        const answer = await clients.s3.send(
          new GetObjectCommand({ Bucket: source.bucket, Key: source.key }),
        );
        if (!answer.Body) throw new Error('empty object');
        return await answer.Body.transformToString('utf-8');
      } catch (error) {
        throw sourceError(name, `cannot read the inventory: ${messageOf(error)}`, error);
      }
    }
    case 'ssm': {
      const name = `ssm:${source.name}`;
      if (!clients.ssm) throw sourceError(name, 'no SSM client');
      try {
        const answer = await clients.ssm.send(
          new GetParameterCommand({ Name: source.name, WithDecryption: true }),
        );
        const value = answer.Parameter?.Value;
        if (value === undefined) throw new Error('the parameter has no value');
        return value;
      } catch (error) {
        throw sourceError(name, `cannot read the inventory: ${messageOf(error)}`, error);
      }
    }
    case 'file': {
      const path = isAbsolute(source.path) ? source.path : resolve(clients.baseDir ?? '.', source.path);
      try {
        return await readFile(path, 'utf8');
      } catch (error) {
        throw sourceError(`file:${source.path}`, `cannot read the inventory: ${messageOf(error)}`, error);
      }
    }
  }
}

/** A secret's value as text (`SecretString`, or `SecretBinary` as UTF-8). */
export async function readSecret(client: SecretsManagerClient, secretId: string): Promise<string> {
  try {
    const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (answer.SecretString !== undefined) return answer.SecretString;
    if (answer.SecretBinary !== undefined) return Buffer.from(answer.SecretBinary).toString('utf8');
    throw new Error('the secret has no value');
  } catch (error) {
    throw sourceError(secretId, `cannot read the secret: ${messageOf(error)}`, error);
  }
}

/**
 * The SSH key secret: the private key in OpenSSH or PEM form, or JSON `{ "privateKey": "…" }`.
 * Secrets Manager encrypts it at rest; a key with a passphrase is refused (CONFIG_ERROR) rather
 * than failing at the first host.
 */
export function parseSshKeySecret(text: string, secretId: string): { privateKey: string } {
  let key = text.trim();
  if (key.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(key);
    } catch {
      // No cause: JSON.parse's message quotes the text it failed on, here the key itself, and a
      // cause is printed wherever the error is (the Lambda runtime logs uncaught errors whole).
      throw sourceError(secretId, 'the SSH key secret is neither a key nor valid JSON');
    }
    const { privateKey, passphrase } = (parsed ?? {}) as Record<string, unknown>;
    if (typeof privateKey !== 'string') {
      throw sourceError(secretId, 'the SSH key secret must hold "privateKey" as a string');
    }
    if (passphrase !== undefined) {
      throw sourceError(secretId, 'keys with a passphrase are not supported: store the key unencrypted');
    }
    key = privateKey.trim();
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw sourceError(secretId, 'the SSH key secret holds no private key');
  }
  if (/Proc-Type: 4,ENCRYPTED|BEGIN ENCRYPTED PRIVATE KEY/.test(key)) {
    throw sourceError(secretId, 'keys with a passphrase are not supported: store the key unencrypted');
  }
  return { privateKey: `${key}\n` };
}

function messageOf(error: unknown): string {
  if (error instanceof Error)
    return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
  return String(error);
}
