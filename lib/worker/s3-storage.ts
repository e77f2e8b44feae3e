/** The runs bucket through an S3 client the caller built (the batch state machine's item lists and results). */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BatchStorage } from './batch-aggregate.ts';

/** BatchStorage over S3: GetObject, PutObject (JSON), ListObjectsV2 with paging. */
export function createS3Storage(client: S3Client): BatchStorage {
  return {
    async get(bucket, key) {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!answer.Body) throw new Error(`s3://${bucket}/${key} is empty`);
      return answer.Body.transformToString('utf-8');
    },
    async put(bucket, key, body) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
    },
    async list(bucket, prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return keys;
    },
  };
}
