// Least privilege where nobody signs the request (SPEC 7.5): the fleet console's page is served
// without the API's authorizer (a browser's page load carries no signature), so the function
// behind its routes must hold nothing worth reaching — no secret, no Run Command, no EC2, no run
// table — and every route that reaches the fleet keeps the authorizer. And the batch-upgrade
// function, which only validates, records and starts a run (it builds its runtime with
// `secrets: false`), may read no secret and is told of none. Read from the synthesized template,
// route → integration → function → role, so the checks hold whatever the constructs are called.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONSOLE_GATEWAY_PATHS } from '../../lib/console/routes.ts';
import { assemblyDir, flatten, type Synthesized, statementsOfRole, synth } from './synth.ts';

/** Services whose actions a function open to anonymous requests must not hold. */
const FLEET_SERVICES = ['secretsmanager', 'ssm', 'ec2', 'dynamodb'];

const SSH_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/ssh-key-AbC123';
const CALLBACK_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/callback-XyZ789';
const KNOWN_HOSTS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/known_hosts-Qw3rTy';

const WITH_CONTEXT = {
  inventorySource: 's3://cloudiq-inventory/fleets/prod.ini',
  sshKeySecretArn: SSH_ARN,
  callbackSecretArn: CALLBACK_ARN,
  knownHostsSecretArn: KNOWN_HOSTS_ARN,
  subnetIds: 'subnet-0123456789abcdef0',
  securityGroupIds: 'sg-0123456789abcdef0',
};

interface RouteInfo {
  key: string;
  authorization: string;
  /** The logical id of the Lambda function the route's integration invokes. */
  functionId: string;
}

/** Every route of the HTTP API, with its authorization and the function behind it. */
function routesOf(s: Synthesized): RouteInfo[] {
  const resources = s.json.Resources;
  return Object.values(resources)
    .filter((resource) => resource.Type === 'AWS::ApiGatewayV2::Route')
    .map((resource) => {
      const props = resource.Properties ?? {};
      const target = flatten(props['Target']) as string;
      const integrationId = /^integrations\/\{(.+)\}$/.exec(target)?.[1];
      assert.ok(integrationId, `route ${String(props['RouteKey'])}: target ${target}`);
      const integration = resources[integrationId]?.Properties ?? {};
      const uri = integration['IntegrationUri'] as { 'Fn::GetAtt'?: [string, string] } | undefined;
      const functionId = uri?.['Fn::GetAtt']?.[0];
      assert.ok(functionId, `route ${String(props['RouteKey'])}: integration ${JSON.stringify(uri)}`);
      assert.equal(resources[functionId]?.Type, 'AWS::Lambda::Function');
      return {
        key: String(props['RouteKey']),
        authorization: String(props['AuthorizationType']),
        functionId,
      };
    });
}

/** The logical id of the function's role. */
function roleOf(s: Synthesized, functionId: string): string {
  const role = s.json.Resources[functionId]?.Properties?.['Role'] as { 'Fn::GetAtt': [string, string] };
  return role['Fn::GetAtt'][0];
}

/** Every action the function's role allows. */
function actionsOf(s: Synthesized, functionId: string): string[] {
  return statementsOfRole(s.json, roleOf(s, functionId)).flatMap((statement) => [statement.Action].flat());
}

function environmentOf(s: Synthesized, functionId: string): Record<string, unknown> {
  const props = s.json.Resources[functionId]?.Properties ?? {};
  return (flatten((props['Environment'] as { Variables?: unknown } | undefined)?.Variables) ?? {}) as Record<
    string,
    unknown
  >;
}

describe('least privilege behind the open routes and in batch-upgrade', () => {
  const out = assemblyDir();
  let defaults: Synthesized;
  let custom: Synthesized;
  before(() => {
    defaults = synth(out.dir);
    custom = synth(out.dir, WITH_CONTEXT);
  });
  after(() => out.remove());

  it('the console routes invoke a function whose role has no secretsmanager, ssm, ec2 or dynamodb action', () => {
    for (const s of [defaults, custom]) {
      const consoleKeys = CONSOLE_GATEWAY_PATHS.map((path) => `GET ${path}`);
      const consoleRoutes = routesOf(s).filter((route) => consoleKeys.includes(route.key));
      assert.deepEqual(consoleRoutes.map((route) => route.key).sort(), [...consoleKeys].sort());
      for (const route of consoleRoutes) {
        const forbidden = actionsOf(s, route.functionId).filter((action) =>
          FLEET_SERVICES.includes(action.split(':')[0] ?? ''),
        );
        assert.deepEqual(forbidden, [], `${route.key} runs in a function that may ${forbidden.join(', ')}`);
        // Its own logs and nothing else: no inventory, no runs bucket, no state machine either.
        assert.deepEqual(
          statementsOfRole(s.json, roleOf(s, route.functionId)).map((statement) => statement.Sid),
          ['WriteLogs'],
          route.key,
        );
        // Not told where the secrets or the inventory are, and not in the fleet's subnets.
        const env = environmentOf(s, route.functionId);
        for (const name of Object.keys(env)) {
          assert.doesNotMatch(name, /SECRET|INVENTORY|TABLE|STATE_MACHINE|BUCKET/, `${route.key}: ${name}`);
        }
        assert.equal(s.json.Resources[route.functionId]?.Properties?.['VpcConfig'], undefined, route.key);
      }
    }
  });

  it('every route to a function that may reach the fleet keeps the authorizer', () => {
    for (const s of [defaults, custom]) {
      const routes = routesOf(s);
      const open = routes.filter((route) => route.authorization === 'NONE');
      assert.deepEqual(
        open.map((route) => route.key).sort(),
        CONSOLE_GATEWAY_PATHS.map((path) => `GET ${path}`).sort(),
      );
      const openFunctions = new Set(open.map((route) => route.functionId));
      for (const route of routes) {
        if (route.authorization === 'NONE') continue;
        assert.equal(route.authorization, 'AWS_IAM', route.key);
        assert.ok(!openFunctions.has(route.functionId), `${route.key} shares the open routes' function`);
      }
    }
  });

  it('batch-upgrade’s role has no secretsmanager:GetSecretValue, and its environment names no secret', () => {
    for (const s of [defaults, custom]) {
      const fn = s.id(s.stack.functions['batch-upgrade'].function);
      const secretActions = actionsOf(s, fn).filter((action) => action.startsWith('secretsmanager:'));
      assert.deepEqual(secretActions, []);
      const env = environmentOf(s, fn);
      for (const name of ['SSH_KEY_SECRET_ARN', 'KNOWN_HOSTS_SECRET_ARN', 'CALLBACK_SECRET_ARN']) {
        assert.equal(env[name], undefined, name);
      }
      // What it does use stays: the inventory to check the selector, the state machines it starts.
      assert.ok(env['INVENTORY_SOURCE'], 'INVENTORY_SOURCE');
      assert.ok(env['FLEET_STATE_MACHINE_ARN'], 'FLEET_STATE_MACHINE_ARN');
    }
  });
});
