/**
 * The result's location and pre-signed URL. The URL is checked against SigV4's query-string
 * signing recomputed here with node:crypto from AWS's published algorithm, an implementation
 * independent of the SDK's signer, and it is made without any connection.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import {
  formatResultLocation,
  MAX_PRESIGN_SECONDS,
  parseResultLocation,
  presignResultUrl,
} from '../../lib/cloud/result-url.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { watchOutgoingConnections } from '../support/callback-receiver.ts';

const CREDENTIALS = { accessKeyId: 'AKIDRESULTS', secretAccessKey: 'results-secret-key' };

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** SigV4 of a pre-signed GET (host the only signed header, payload unsigned), recomputed. */
function expectedSignature(url: URL, secretAccessKey: string, region: string): string {
  const pairs = url.search
    .slice(1)
    .split('&')
    .filter((pair) => !pair.startsWith('X-Amz-Signature='))
    .sort();
  const canonical = [
    'GET',
    url.pathname,
    pairs.join('&'),
    `host:${url.host}`,
    '',
    'host',
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const date = url.searchParams.get('X-Amz-Date') ?? '';
  const scope = `${date.slice(0, 8)}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join(
    '\n',
  );
  let key = hmac(`AWS4${secretAccessKey}`, date.slice(0, 8));
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(toSign).digest('hex');
}

describe('result location', () => {
  it('formats and parses s3://bucket/key, keys with slashes and any characters', () => {
    const bucket = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
    const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 });
    fc.assert(
      fc.property(bucket, key, (b, k) => {
        assert.deepEqual(parseResultLocation(formatResultLocation({ bucket: b, key: k })), {
          bucket: b,
          key: k,
        });
      }),
    );
    assert.deepEqual(parseResultLocation('s3://cloudiq-runs/runs/op_1/result.json'), {
      bucket: 'cloudiq-runs',
      key: 'runs/op_1/result.json',
    });
  });

  it('refuses what is not s3://bucket/key with INVALID_VALUE', () => {
    for (const bad of [
      '',
      's3://',
      's3://bucket',
      's3://bucket/',
      'https://bucket/key',
      's3://Bucket/key',
      's3://ab/key',
    ]) {
      assert.throws(
        () => parseResultLocation(bad),
        (error: unknown) => error instanceof BootstrapError && error.code === 'INVALID_VALUE',
        bad,
      );
    }
    assert.throws(() => formatResultLocation({ bucket: 'runs/evil', key: 'k' }), /not an S3 bucket name/);
  });
});

describe('presignResultUrl', () => {
  it('signs a GET of the object, valid for the asked time, with the injected credentials, offline', async () => {
    const watch = watchOutgoingConnections();
    try {
      const client = new S3Client({
        region: 'eu-west-1',
        endpoint: 'http://127.0.0.1:4569',
        forcePathStyle: true,
        credentials: CREDENTIALS,
      });
      const url = new URL(
        await presignResultUrl(client, 's3://cloudiq-runs/runs/op_1/résultat 1.json', {
          expiresInSeconds: 900,
        }),
      );
      assert.equal(url.origin, 'http://127.0.0.1:4569');
      assert.equal(decodeURIComponent(url.pathname), '/cloudiq-runs/runs/op_1/résultat 1.json');
      assert.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
      assert.equal(url.searchParams.get('X-Amz-Expires'), '900');
      assert.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'host');
      assert.match(
        url.searchParams.get('X-Amz-Credential') ?? '',
        /^AKIDRESULTS\/\d{8}\/eu-west-1\/s3\/aws4_request$/,
      );
      assert.equal(
        url.searchParams.get('X-Amz-Signature'),
        expectedSignature(url, CREDENTIALS.secretAccessKey, 'eu-west-1'),
      );
      assert.notEqual(
        url.searchParams.get('X-Amz-Signature'),
        expectedSignature(url, 'another-secret', 'eu-west-1'),
      );

      const virtual = new S3Client({ region: 'us-east-2', credentials: CREDENTIALS });
      const hosted = new URL(
        await presignResultUrl(virtual, { bucket: 'cloudiq-runs', key: 'runs/op_2/result.json' }),
      );
      assert.equal(hosted.host, 'cloudiq-runs.s3.us-east-2.amazonaws.com');
      assert.equal(hosted.searchParams.get('X-Amz-Expires'), '3600');
      assert.equal(
        hosted.searchParams.get('X-Amz-Signature'),
        expectedSignature(hosted, CREDENTIALS.secretAccessKey, 'us-east-2'),
      );
      assert.deepEqual(watch.attempts, []);
    } finally {
      watch.restore();
    }
  });

  it('refuses an expiry outside 1 s – 7 days, and a bad location, with INVALID_VALUE', async () => {
    const client = new S3Client({ region: 'eu-west-1', credentials: CREDENTIALS });
    for (const expiresInSeconds of [0, -1, 1.5, MAX_PRESIGN_SECONDS + 1]) {
      await assert.rejects(
        presignResultUrl(client, 's3://cloudiq-runs/k', { expiresInSeconds }),
        (error: unknown) => error instanceof BootstrapError && error.code === 'INVALID_VALUE',
      );
    }
    await assert.rejects(presignResultUrl(client, 'runs/k'), /expected s3:\/\/bucket\/key/);
    assert.ok(
      await presignResultUrl(client, 's3://cloudiq-runs/k', { expiresInSeconds: MAX_PRESIGN_SECONDS }),
    );
  });
});
