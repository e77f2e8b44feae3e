/** One instance as a dynamic source lists it, whichever AWS API listed it. */
export interface ListedInstance {
  instanceId: string;
  privateIp?: string;
  publicIp?: string;
  privateDns?: string;
  tags: Record<string, string>;
}
