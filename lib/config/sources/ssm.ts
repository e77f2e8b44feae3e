/**
 * `kind = ssm` (SPEC 3.1 v2): the managed instances `DescribeInstanceInformation` lists as
 * online under the source's tag filters, every page followed by the SDK's paginator. The answer
 * carries no tags: a host knows the tags its filters required. The client is injected.
 */
import type { SSMClient } from '@aws-sdk/client-ssm';
import { ssmCommands } from '../../transport/ssm/load-sdk.ts';
import type { TagFilter } from '../dynamic-sources.ts';
import type { ListedInstance } from './listed-instance.ts';

/** Every online managed instance carrying the filters' tags. */
export async function listSsmInstances(
  client: SSMClient,
  filters: readonly TagFilter[],
): Promise<ListedInstance[]> {
  const instances: ListedInstance[] = [];
  // The SDK loads when a source of this kind is read, not with the inventory code.
  const { paginateDescribeInstanceInformation } = await ssmCommands();
  const pages = paginateDescribeInstanceInformation(
    { client, pageSize: 50 },
    {
      Filters: [
        { Key: 'PingStatus', Values: ['Online'] },
        ...filters.map((filter) => ({ Key: `tag:${filter.key}`, Values: filter.values })),
      ],
    },
  );
  for await (const page of pages) {
    for (const info of page.InstanceInformationList ?? []) {
      if (info.InstanceId === undefined || info.PingStatus !== 'Online') continue;
      const tags: Record<string, string> = Object.create(null);
      // With one value the filter says what the tag is; with several, which one is not said.
      for (const filter of filters) if (filter.values.length === 1) tags[filter.key] = filter.values[0]!;
      instances.push({
        instanceId: info.InstanceId,
        ...(info.IPAddress ? { privateIp: info.IPAddress } : {}),
        tags,
      });
    }
  }
  return instances;
}
