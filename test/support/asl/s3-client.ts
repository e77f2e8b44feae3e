/**
 * The simulation's S3 over a real `S3Client` (the loopback S3 server in tests, or any S3), so
 * that ItemReader and ResultWriter go over S3's wire protocol as they would in AWS.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { S3Like } from './types.ts';

/** An `S3Like` that reads and writes through the given client. */
export function s3FromClient(client: S3Client): S3Like {
  return {
    async getObject(bucket, key) {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await answer.Body?.transformToString('utf8')) ?? '';
    },
    async putObject(bucket, key, body) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
    },
  };
}
