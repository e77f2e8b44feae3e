/**
 * The fleet console's routes: the page at `/` and its files under `/console/`, a prefix no route
 * of SPEC 7.1 uses. Locally `serve` adds them to the API's routes (lib/api/local-routes.ts) and
 * answers them through the API's handler; in the cloud a function of their own answers them
 * (functions/console.ts, through find-page.ts), and infra declares them from `CONSOLE_GATEWAY_PATHS`.
 * The page reads the fleet only through SPEC 7.1's public routes, as any client would.
 *
 * Why served by a function rather than S3 + CloudFront: the page is a few dozen KiB of text, and
 * on the API's own origin it needs no CORS, no second origin to secure and no second deployment;
 * its files come from the function's bundle (scripts/bundle.mjs inlines them). Why not by the API
 * function: these routes are open (below), and the API function holds the fleet's privileges (the
 * SSH key, Run Command, the inventory and its listing): an anonymous page load must run in a
 * function that can reach none of it.
 * Auth: the HTTP API's default IAM authorizer wants SigV4, which a browser cannot sign without
 * AWS credentials in the page (never); the console is for deployments with the JWT authorizer
 * (`-c authorizer=jwt`), and sends the operator's token as `Authorization: Bearer` (api.js).
 *
 * Every answer carries a strict Content-Security-Policy: scripts, styles and images from this
 * origin only, no inline script or style, requests to this origin only, no framing.
 *
 * The console sits below the API: it names its own small shapes (a file's answer, a route that
 * needs no request context), which the API's `Route` and `HttpResult` accept as they are, so the
 * API imports the console and never the other way round.
 */
import { CONSOLE_SOURCES } from './sources.ts';

/** One file of the page as served: the fields of an HTTP answer the console sets. */
export interface PageAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** A route of the page: a literal path whose answer depends on nothing in the request. */
export interface PageRoute {
  method: 'GET';
  path: string;
  handle: () => Promise<PageAnswer>;
}

export const CONSOLE_PREFIX = '/console/';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
};

function asset(name: string): PageAnswer {
  const body = CONSOLE_SOURCES[name];
  if (body === undefined) throw new Error(`console asset ${name} is missing`);
  return {
    statusCode: 200,
    headers: {
      'content-type': TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
      // The page changes with each deployment and is small: revalidating costs little.
      'cache-control': 'no-cache',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
    body,
  };
}

function pageRoute(path: string, name: string): PageRoute {
  return {
    method: 'GET',
    path,
    // Unlike the API's routes, the page ignores a query string (a browser or a link may add one).
    handle: async () => asset(name),
  };
}

/**
 * The API Gateway routes the page needs (all `GET`): `/` and one `{file}` route under `/console/`
 * (the function routes on the path itself, so one gateway route serves every file). In the cloud
 * they take no authorizer, unlike SPEC 7.1's routes: a browser's page load carries no token, and
 * these answers hold no fleet data — every fleet read goes through the API's own authorizer. They
 * go to the console's own function, never to the API's (infra/api.ts).
 */
export const CONSOLE_GATEWAY_PATHS: readonly string[] = ['/', `${CONSOLE_PREFIX}{file}`];

/** `GET /` (index.html) and `GET /console/{file}` for each other file, one literal route each. */
export const CONSOLE_ROUTES: readonly PageRoute[] = [
  pageRoute('/', 'index.html'),
  ...Object.keys(CONSOLE_SOURCES)
    .filter((name) => name !== 'index.html')
    .map((name) => pageRoute(`${CONSOLE_PREFIX}${name}`, name)),
];
