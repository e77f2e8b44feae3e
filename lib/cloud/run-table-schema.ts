/**
 * The one DynamoDB table of a fleet run's shared facts (infra/run-table.ts): what its items look
 * like, so that the run store, the delivery ledger, the id claims and the table's definition agree.
 * Every kind of item shares the partition key `id`, told apart by a prefix: `run#<operationId>`
 * for run records, `claim#<operationId>` for what an operation id names (taken before any run
 * starts), `delivery#<hash>` for the Powertools idempotency records of callback deliveries,
 * `pool#<name>` for the concurrency the fleet runs share.
 */

/** The partition key (a string) of every item. */
export const RUN_TABLE_KEY = 'id';
/** The TTL attribute (epoch seconds) of every item: DynamoDB deletes items some time after it. */
export const RUN_TABLE_TTL_ATTRIBUTE = 'expiresAt';
/** Key prefix of run records. */
export const RUN_KEY_PREFIX = 'run#';
/** Powertools' key prefix of delivery records (it writes `<prefix>#<hash of the key>`). */
export const DELIVERY_KEY_PREFIX = 'delivery';
/** Key prefix of operation-id claims (lib/cloud/dynamo-run-claims.ts): what each id names. */
export const CLAIM_KEY_PREFIX = 'claim#';
/**
 * Key prefix of the concurrency pools (lib/cloud/dynamo-concurrency-pool.ts): one item a pool,
 * `pool#worker` for the fleet runs' targets, `pool#heartbeat` for the heartbeat's shards. It
 * carries no `expiresAt`: its holders' leases end one by one inside it.
 */
export const POOL_KEY_PREFIX = 'pool#';
