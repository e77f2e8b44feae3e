/**
 * The HTTP API of SPEC 7.1 (API Gateway HTTP API, payload 2.0): every route to the `api`
 * function, behind IAM authorization (SigV4, `execute-api:Invoke`) unless the context asks for a
 * JWT authorizer, with access logs kept as long as the functions' logs. A `$default` route sends
 * every other request to the function too, which answers it in SPEC 2.6's error shape. The fleet
 * console's page alone is open, and goes to a function of its own that can reach nothing.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { API_ROUTE_KEYS } from '../lib/api/routes.ts';
import { CONSOLE_GATEWAY_PATHS } from '../lib/console/routes.ts';
import type { AuthorizerSettings } from './settings.ts';

/** The HTTP methods API Gateway knows, by name. */
const METHODS: Record<string, apigw.HttpMethod> = Object.fromEntries(
  Object.values(apigw.HttpMethod).map((method) => [method, method]),
);

/**
 * SPEC 7.1's routes, as API Gateway route keys: the API's own route table (lib/api/routes.ts,
 * where each command's routes come from its row), never a second list.
 */
export const API_ROUTES: readonly { method: apigw.HttpMethod; path: string }[] = API_ROUTE_KEYS.map(
  ({ method, path }) => {
    const known = METHODS[method];
    if (known === undefined) throw new Error(`API Gateway has no method ${method} (route ${path})`);
    return { method: known, path };
  },
);

/** Steady-state and burst limits of the stage; the API fronts SSH and SSM, not a web audience. */
export const API_THROTTLE = { rateLimit: 50, burstLimit: 100 };

export interface BootstrapApiProps {
  handler: lambda.IFunction;
  /** The console's function (functions/console.ts): the page's open routes, and nothing else. */
  consoleHandler: lambda.IFunction;
  authorizer: AuthorizerSettings;
  logRetention: logs.RetentionDays;
}

export class BootstrapApi extends Construct {
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BootstrapApiProps) {
    super(scope, id);
    const authorizer =
      props.authorizer.kind === 'jwt'
        ? new HttpJwtAuthorizer('JwtAuthorizer', props.authorizer.issuer, {
            jwtAudience: props.authorizer.audience,
          })
        : new HttpIamAuthorizer();
    this.httpApi = new apigw.HttpApi(this, 'Resource', {
      apiName: 'cloudiq-bootstrap',
      description: 'cloudiq-bootstrap: servers, products, operations and fleet upgrades (SPEC 7.1)',
      createDefaultStage: false,
      defaultAuthorizer: authorizer,
    });
    const integration = new HttpLambdaIntegration('Api', props.handler, {
      payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
    });
    for (const route of API_ROUTES) {
      this.httpApi.addRoutes({ path: route.path, methods: [route.method], integration });
    }
    // Any other method or path: the function answers SPEC 2.6's 404 or 405 (INVALID_REQUEST,
    // `details.reason` NO_ROUTE or METHOD_NOT_ALLOWED, lib/api/handler.ts) as `serve` does, not API
    // Gateway's own `{"message":"Not Found"}`; behind the same authorizer as every API route.
    new apigw.HttpRoute(this, 'DefaultRoute', {
      httpApi: this.httpApi,
      routeKey: apigw.HttpRouteKey.DEFAULT,
      integration,
      authorizer,
    });
    // The fleet console's page and assets hold no fleet data and a browser cannot sign SigV4:
    // they are open; every API route keeps the authorizer (a JWT pasted into the page with
    // `-c authorizer=jwt`, see lib/console/routes.ts). Open, so not to `api`: an anonymous
    // request must not run where the SSH key, Run Command and the inventory's listing are, nor
    // cost an inventory listing; the console's function holds nothing but its logs.
    const page = new HttpLambdaIntegration('Console', props.consoleHandler, {
      payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
    });
    for (const path of CONSOLE_GATEWAY_PATHS) {
      this.httpApi.addRoutes({
        path,
        methods: [apigw.HttpMethod.GET],
        integration: page,
        authorizer: new apigw.HttpNoneAuthorizer(),
      });
    }

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: API_THROTTLE,
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(this.accessLogs) },
    });
  }

  /** The stage's URL, `https://<id>.execute-api.<region>.amazonaws.com/`. */
  get url(): string {
    return this.stage.url;
  }
}
