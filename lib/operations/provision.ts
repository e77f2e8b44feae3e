/**
 * `server.provision [--role ROLE]` (SPEC 2.5): every product of the role, in the role's order,
 * each through its provision hook; once all succeeded, server.ini records the role, the mode
 * `[server] provisioned_mode` names (or the current one) and when.
 */
import { assertName } from '../config/names.ts';
import { ownValue } from '../config/records.ts';
import { BootstrapError } from '../errors.ts';
import { NOW_MARKER } from '../host/programs.ts';
import { present } from '../optional.ts';
import { hookStep } from './hook-steps.ts';
import type { LongStart } from './long.ts';
import { currentMode } from './server-mode.ts';
import { expect, serverPath } from './snapshot.ts';
import { renderServerIni } from './state.ts';

/** The long request of `server.provision`: ROLE defaults to the role server.ini records. */
export function provisionRequest(args: { role?: string; operationId?: string }): LongStart {
  if (args.role !== undefined) assertName('role', args.role);
  return {
    command: 'server.provision',
    ...present({ operationId: args.operationId }),
    stated: present({ role: args.role }),
    plan: (host, snapshot, id) => {
      const role = args.role ?? snapshot.server.role;
      const products = role === undefined ? undefined : ownValue(snapshot.config.roles, role);
      if (role === undefined || !products) {
        throw new BootstrapError(
          'UNKNOWN_ROLE',
          role === undefined
            ? `${host.name}: no role recorded; name one with --role`
            : `${host.name}: no role ${JSON.stringify(role)} in ${snapshot.config.file}`,
          { server: host.name, role: role ?? null, known: Object.keys(snapshot.config.roles) },
        );
      }
      const steps = products.map((product) => hookStep(host, snapshot, id, { product, action: 'provision' }));
      const server = {
        ...snapshot.server,
        mode: snapshot.config.server.provisionedMode ?? currentMode(snapshot),
        role,
        provisioned_at: NOW_MARKER,
        updated_at: NOW_MARKER,
        last_operation: id,
      };
      return {
        args: { role },
        expect: expect(snapshot, 'config', 'server', ...products.map((p) => `product:${p}`)),
        steps,
        onSuccess: { path: serverPath(host), content: renderServerIni(server) },
      };
    },
  };
}
