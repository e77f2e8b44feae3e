/**
 * Where a fleet run's whole result is kept (SPEC 5 v2): its `resultLocation` (`s3://bucket/key`)
 * in the run record, and the pre-signed GET URL a truncated callback body carries as `resultUrl`,
 * so that its receiver reads the whole result without AWS credentials of its own.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BootstrapError } from '../errors.ts';

export interface ResultLocation {
  bucket: string;
  key: string;
}

/** SigV4 pre-signed URLs live at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;

/** S3's bucket naming rule (3–63 lower-case letters, digits, dots and hyphens), and a non-empty key. */
const LOCATION = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/s;

/** `s3://bucket/key`; a bucket or key that would not read back the same is refused with INVALID_VALUE. */
export function formatResultLocation(location: ResultLocation): string {
  const url = `s3://${location.bucket}/${location.key}`;
  const parsed = parseResultLocation(url);
  if (parsed.bucket !== location.bucket) {
    throw new BootstrapError('INVALID_VALUE', `not an S3 bucket name: ${JSON.stringify(location.bucket)}`, {
      bucket: location.bucket,
    });
  }
  return url;
}

/** The bucket and key of `s3://bucket/key`; anything else is refused with INVALID_VALUE. */
export function parseResultLocation(url: string): ResultLocation {
  const match = LOCATION.exec(url);
  if (!match) {
    throw new BootstrapError('INVALID_VALUE', `expected s3://bucket/key, got ${JSON.stringify(url)}`, {
      resultLocation: url,
    });
  }
  return { bucket: match[1] as string, key: match[2] as string };
}

export interface PresignResultOptions {
  /** How long the URL works, in seconds (1 to 7 days' worth); default one hour. */
  expiresInSeconds?: number;
}

/**
 * A pre-signed GET URL of the result at `location`, signed with the injected client's
 * credentials. With a Lambda role's temporary credentials the URL stops working when they expire,
 * even before `expiresInSeconds`.
 */
export async function presignResultUrl(
  client: S3Client,
  location: ResultLocation | string,
  options: PresignResultOptions = {},
): Promise<string> {
  const { bucket, key } = typeof location === 'string' ? parseResultLocation(location) : location;
  const expiresIn = options.expiresInSeconds ?? 3600;
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_PRESIGN_SECONDS) {
    throw new BootstrapError(
      'INVALID_VALUE',
      `a pre-signed URL expires after 1 to ${MAX_PRESIGN_SECONDS} whole seconds, not ${expiresIn}`,
      { expiresInSeconds: expiresIn },
    );
  }
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn });
}
