/**
 * What `serve` answers (SPEC 7.4): the API's routes and the fleet console's page, through the one
 * handler. In the cloud the page has a function of its own (functions/console.ts), so only
 * `serve` joins the two, here, and the API function's bundle never loads the page's files.
 */
import { CONSOLE_ROUTES } from '../console/routes.ts';
import type { CommandTable } from '../operations/command-row.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';
import type { Route } from './context.ts';
import { apiRoutes } from './routes.ts';

/** The API's routes for the commands of `table`, and the console's page. */
export function allRoutes(table: CommandTable = COMMAND_TABLE): Route[] {
  return [...apiRoutes(table), ...CONSOLE_ROUTES];
}
