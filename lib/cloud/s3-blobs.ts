/** The runs bucket as the steps' blob store, through an S3 client the caller built. */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from '../fleet/steps/deps.ts';
import { present } from '../optional.ts';

/** BlobStore over S3: GetObject (NoSuchKey: undefined), PutObject (JSON); `urlOf` when a signer is given. */
export function createS3BlobStore(
  client: S3Client,
  bucket: string,
  urlOf?: (key: string) => Promise<string>,
): BlobStore {
  return {
    bucket,
    async get(key) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return (await answer.Body?.transformToString('utf-8')) ?? '';
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
    async put(key, body) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
    },
    ...present({ urlOf }),
  };
}
