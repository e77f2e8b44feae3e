/**
 * `DescribeInstanceInformation` for the loopback SSM (ssm-server.ts), as AWS documents it: the
 * managed instances registered with the server, `Filters` (`PingStatus`, `InstanceIds`,
 * `PlatformTypes`, `ResourceType`, `tag-key`, `tag:KEY`; values of one filter are
 * alternatives, filters all apply; another key is `InvalidFilterKey`), `MaxResults` from 5 to
 * 50, and pages forced small so that clients must follow `NextToken`.
 */

export interface ManagedInstanceRecord {
  instanceId: string;
  pingStatus?: 'Online' | 'ConnectionLost' | 'Inactive';
  ipAddress?: string;
  computerName?: string;
  tags?: Record<string, string>;
}

export interface DescribeSettings {
  managed: ManagedInstanceRecord[];
  pageSize: number;
}

type Filter = { Key?: string; Values?: string[] };

/** The answer to one call; throws `{ type, message }` for SSM's modeled errors. */
export function describeInstanceInformation(
  settings: DescribeSettings,
  body: Record<string, unknown>,
  fail: (type: string, message: string) => Error,
): unknown {
  const max = body['MaxResults'];
  if (max !== undefined && !(typeof max === 'number' && max >= 5 && max <= 50))
    throw fail('ValidationException', 'maxResults must be between 5 and 50');
  const filters = (body['Filters'] as Filter[] | undefined) ?? [];
  for (const filter of filters) {
    if (
      !filter.Key ||
      !/^(?:PingStatus|InstanceIds|PlatformTypes|ResourceType|tag-key|tag:.+)$/.test(filter.Key)
    )
      throw fail('InvalidFilterKey', `The filter key ${filter.Key} is not valid`);
    if (!filter.Values || filter.Values.length === 0)
      throw fail('InvalidFilterValue', 'Filter values missing');
  }
  const matching = settings.managed.filter((record) =>
    filters.every((filter) => filter.Values!.some((value) => fieldOf(record, filter.Key!).includes(value))),
  );
  const token = body['NextToken'];
  const start = token === undefined ? 0 : Number(Buffer.from(String(token), 'base64').toString('utf8'));
  if (!Number.isInteger(start) || start < 0) throw fail('InvalidNextToken', 'The token is not valid');
  const page = matching.slice(start, start + Math.min(settings.pageSize, typeof max === 'number' ? max : 50));
  const next = start + page.length;
  return {
    InstanceInformationList: page.map((record) => ({
      InstanceId: record.instanceId,
      PingStatus: record.pingStatus ?? 'Online',
      LastPingDateTime: Date.now() / 1000,
      AgentVersion: '3.3.0.0',
      PlatformType: 'Linux',
      PlatformName: 'Debian GNU/Linux',
      ResourceType: record.instanceId.startsWith('mi-') ? 'ManagedInstance' : 'EC2Instance',
      ...(record.ipAddress ? { IPAddress: record.ipAddress } : {}),
      ...(record.computerName ? { ComputerName: record.computerName } : {}),
    })),
    ...(next < matching.length ? { NextToken: Buffer.from(String(next)).toString('base64') } : {}),
  };
}

function fieldOf(record: ManagedInstanceRecord, key: string): string[] {
  if (key === 'PingStatus') return [record.pingStatus ?? 'Online'];
  if (key === 'InstanceIds') return [record.instanceId];
  if (key === 'PlatformTypes') return ['Linux'];
  if (key === 'ResourceType')
    return [record.instanceId.startsWith('mi-') ? 'ManagedInstance' : 'EC2Instance'];
  if (key === 'tag-key') return Object.keys(record.tags ?? {});
  const value = record.tags?.[key.slice('tag:'.length)];
  return value === undefined ? [] : [value];
}
