/**
 * `kind = ec2` (SPEC 3.1 v2): the running instances `DescribeInstances` lists under the source's
 * tag filters, every page followed by the SDK's paginator. The client is injected.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { TagFilter } from '../dynamic-sources.ts';
import type { ListedInstance } from './listed-instance.ts';

/** Every running instance carrying the filters' tags. */
export async function listEc2Instances(
  client: EC2Client,
  filters: readonly TagFilter[],
): Promise<ListedInstance[]> {
  // Loaded here, not at the top: the functions' bundles leave this SDK to Lambda's runtime.
  const { paginateDescribeInstances } = await import('@aws-sdk/client-ec2');
  const instances: ListedInstance[] = [];
  const pages = paginateDescribeInstances(
    { client, pageSize: 1000 },
    {
      Filters: [
        { Name: 'instance-state-name', Values: ['running'] },
        ...filters.map((filter) => ({ Name: `tag:${filter.key}`, Values: filter.values })),
      ],
    },
  );
  for await (const page of pages) {
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) {
        if (instance.InstanceId === undefined || instance.State?.Name !== 'running') continue;
        const tags: Record<string, string> = Object.create(null);
        for (const tag of instance.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
        instances.push({
          instanceId: instance.InstanceId,
          ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
          ...(instance.PublicIpAddress ? { publicIp: instance.PublicIpAddress } : {}),
          ...(instance.PrivateDnsName ? { privateDns: instance.PrivateDnsName } : {}),
          tags,
        });
      }
    }
  }
  return instances;
}
