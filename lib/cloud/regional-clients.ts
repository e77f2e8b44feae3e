/**
 * One AWS client per region, made on first use and kept for the process (a CLI run, `serve`, a
 * Lambda cold start), so every host of a region shares one client and one SSM batcher. The
 * caller says how a client is made (it may have loaded the SDK lazily); `null` is the SDK's own
 * region from its standard chain.
 */
export interface RegionalClients<C> {
  clientFor(region: string | null): C;
  /** Every client made so far. */
  made(): C[];
}

/** A per-region cache over `make`. */
export function regionalClients<C>(make: (region: string | null) => C): RegionalClients<C> {
  const byRegion = new Map<string | null, C>();
  return {
    clientFor(region) {
      let client = byRegion.get(region);
      if (client === undefined) {
        client = make(region);
        byRegion.set(region, client);
      }
      return client;
    },
    made: () => [...byRegion.values()],
  };
}
