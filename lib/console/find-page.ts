/**
 * The console function's lookup (functions/console.ts): which of the page's routes a path names.
 * A module of its own, so that the API's bundle, which carries the routes for `serve`, carries
 * nothing of the console function's.
 */
import { CONSOLE_ROUTES, type PageRoute } from './routes.ts';

/**
 * The page's route for `path` (a stage's prefix already taken off), or undefined when the page has
 * no such file. As the API's router, a trailing `/` is the same path.
 */
export function findPage(path: string): PageRoute | undefined {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return CONSOLE_ROUTES.find((route) => route.path === trimmed);
}
