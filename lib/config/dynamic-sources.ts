/**
 * `[source:NAME]` sections of the inventory (SPEC 3.1 v2): where AWS lists more hosts at each
 * run. Parsed and validated here like `[host:NAME]`, each problem a CONFIG_ERROR naming the file,
 * the section and the key; listing them is dynamic-inventory.ts's work.
 */
import * as z from 'zod';
import { configError } from '../errors.ts';
import type { IniDocument } from './ini-file.ts';
import { sectionError } from './near-names.ts';

const TAG_KEY = /^[^=,\s][^=,]*$/;
const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const tagRef = (what: string) =>
  z
    .string()
    .trim()
    .regex(/^tag:[^=,\s][^=,]*$/, `expected tag:KEY${what}`)
    .transform((value) => value.slice('tag:'.length));

const sourceSchema = z.strictObject({
  kind: z.enum(['ec2', 'ssm'], { error: 'expected ec2 or ssm' }),
  region: z
    .string()
    .trim()
    .regex(/^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$/, 'expected an AWS region (eu-west-1)')
    .nullable()
    .default(null),
  filters: z
    .string()
    .transform((value, ctx) => {
      const byKey = new Map<string, string[]>();
      for (const item of value.split(',').map((part) => part.trim())) {
        if (item === '') continue;
        const match = /^tag:([^=]+)=(.*)$/.exec(item);
        if (!match || !TAG_KEY.test(match[1]!.trim())) {
          ctx.addIssue({ code: 'custom', message: `expected tag:KEY=VALUE, got ${JSON.stringify(item)}` });
          return z.NEVER;
        }
        const key = match[1]!.trim();
        byKey.set(key, [...(byKey.get(key) ?? []), match[2]!.trim()]);
      }
      // Several values of one tag are alternatives, different tags must all match: as AWS filters.
      return [...byKey].map(([key, values]) => ({ key, values }));
    })
    .default([]),
  transport: z.enum(['ssm', 'ssh'], { error: 'expected ssm or ssh' }).default('ssm'),
  address: z
    .enum(['private_ip', 'public_ip', 'private_dns'], {
      error: 'expected private_ip, public_ip or private_dns',
    })
    .default('private_ip'),
  name: z
    .union([z.literal('instance_id'), tagRef(' or instance_id')], {
      error: 'expected tag:KEY or instance_id',
    })
    .nullable()
    .default(null),
  groups_from: tagRef('').nullable().default(null),
});

export type TagFilter = { key: string; values: string[] };

/** One validated `[source:NAME]`. */
export interface DynamicSource {
  name: string;
  kind: 'ec2' | 'ssm';
  /** null: the SDK chain's region. */
  region: string | null;
  filters: TagFilter[];
  transport: 'ssm' | 'ssh';
  address: 'private_ip' | 'public_ip' | 'private_dns';
  /** The tag whose value names a host (falling back to the instance id), or the instance id. */
  nameFrom: { tag: string } | 'instance_id';
  /** The tag whose comma-separated value gives groups. */
  groupsFrom: string | null;
  /** The inventory's `[defaults]`, merged under every host of the source. */
  hostDefaults: Record<string, string>;
  /** The inventory file, for errors. */
  file: string;
}

/** Every `[source:NAME]` of a parsed inventory document, in file order. */
export function parseSources(
  doc: IniDocument,
  defaults: Record<string, string>,
  file: string,
): DynamicSource[] {
  const sources: DynamicSource[] = [];
  for (const [section, entries] of Object.entries(doc)) {
    if (!section.startsWith('source:')) continue;
    const name = section.slice('source:'.length);
    if (!SOURCE_NAME.test(name))
      throw configError(file, section, null, `invalid source name ${JSON.stringify(name)}`);
    const result = sourceSchema.safeParse(entries);
    if (!result.success) {
      throw sectionError(file, section, result.error.issues[0]!, entries, Object.keys(sourceSchema.shape));
    }
    const fields = result.data;
    if (fields.kind === 'ssm') {
      // DescribeInstanceInformation answers no tags: only what the filters required is known.
      if (fields.name !== null && fields.name !== 'instance_id')
        throw configError(
          file,
          section,
          'name',
          'kind = ssm lists no tags: use name = instance_id, or kind = ec2',
        );
      if (fields.groups_from !== null)
        throw configError(
          file,
          section,
          'groups_from',
          'kind = ssm lists no tags: use kind = ec2 for groups from tags',
        );
      if (fields.transport === 'ssh' && fields.address !== 'private_ip')
        throw configError(file, section, 'address', 'kind = ssm knows only the private IP address');
    }
    const nameFrom = fields.name ?? (fields.kind === 'ec2' ? 'Name' : 'instance_id');
    sources.push({
      name,
      kind: fields.kind,
      region: fields.region,
      filters: fields.filters,
      transport: fields.transport,
      address: fields.address,
      nameFrom: nameFrom === 'instance_id' ? 'instance_id' : { tag: nameFrom },
      groupsFrom: fields.groups_from,
      hostDefaults: defaults,
      file,
    });
  }
  return sources;
}
