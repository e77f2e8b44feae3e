/**
 * How every AWS SDK client of the tool talks HTTP: a connection is given 5 s to open and a request
 * 15 s of silence before it is dropped (and retried as the SDK retries). The SDK's own defaults
 * wait for ever: an endpoint that accepts the connection and never answers (a VPC with no route
 * to EC2 or SSM, a proxy gone quiet) held a run, a heartbeat or a Lambda until it was killed,
 * where SPEC wants the error it is (a source that cannot be listed is CONFIG_ERROR naming it).
 */
export const AWS_HTTP = {
  requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000, throwOnRequestTimeout: true },
} as const;

/**
 * An AWS SDK client's settings: AWS_HTTP, and the region and profile where they are given (where
 * not, the SDK's standard chain decides, SPEC 3.2). Every client is made with these.
 */
export function awsClientConfig(region?: string | null, profile?: string) {
  return {
    ...AWS_HTTP,
    ...(region === null || region === undefined ? {} : { region }),
    ...(profile === undefined ? {} : { profile }),
  };
}

/**
 * An SSM client's settings for Run Command: awsClientConfig with adaptive retries, since
 * SendCommand and GetCommandInvocation throttle under a fleet's load.
 */
export function ssmClientConfig(region?: string | null, profile?: string) {
  return { ...awsClientConfig(region, profile), retryMode: 'adaptive' as const };
}
