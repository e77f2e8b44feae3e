import { regionalClients } from '../cloud/regional-clients.ts';
import { type Inventory, loadInventory } from '../config/inventory.ts';
import { BootstrapError } from '../errors.ts';
import { selectTargets, validateRateControl } from '../fleet/index.ts';
import { rowOf } from '../operations/command-row.ts';
import { newOperationId } from '../operations/ids.ts';
import { runCommand } from '../operations/index.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';
import type { CommandRequest } from '../operations/types.ts';
import { present } from '../optional.ts';
import { createDeliver } from '../orchestrate/deliver.ts';
import { createInventoryFleet } from '../orchestrate/inventory-fleet.ts';
import { runFleetOperation } from '../orchestrate/run.ts';
import { ssmClientConfig } from '../transport/aws-http.ts';
import type { CliOptions } from './args.ts';
import { listDynamicHosts } from './dynamic-hosts.ts';
import { formatFleet, paletteFor } from './fleet-output.ts';
import { onInterrupt } from './interrupt.ts';
import type { CliIo } from './io.ts';
import { createLiveProgress } from './live-progress.ts';
import { keepCutResult } from './run-single.ts';

/**
 * `--inventory FILE --select SELECTOR`: one command over a fleet (SPEC 4), printing the aggregated
 * result; exit 0 only when every target succeeded, 4 otherwise. The CLI is a composition root:
 * SSM clients (one per region, so SendCommand batches) are built here from the SDK's chain.
 */
export async function runFleetCli(request: CommandRequest, options: CliOptions, io: CliIo): Promise<number> {
  if (options.select === undefined)
    throw new BootstrapError(
      'INVALID_REQUEST',
      '--inventory needs --select SELECTOR (names, group:NAME or a bare group, or all)',
    );
  for (const [flag, value] of [
    ['--config', options.config],
    ['--state-dir', options.stateDir],
  ] as const) {
    if (value !== undefined)
      throw new BootstrapError(
        'INVALID_REQUEST',
        `${flag} is for one server; inventory hosts take config_path and state_dir`,
        { option: flag },
      );
  }
  if (options.detach)
    throw new BootstrapError(
      'INVALID_REQUEST',
      'fleet runs follow every target to its end; --detach is for one server',
    );
  const rate = {
    ...present({ maxConcurrency: options.maxConcurrency }),
    ...present({ maxErrors: options.maxErrors }),
    ...present({ canary: options.canary }),
  };
  validateRateControl(rate);
  const inventory = await listDynamicHosts(
    withSshConfig(await loadInventory(options.inventory ?? ''), options.sshConfig),
    options.profile,
  );
  const sdk = inventory.hosts.some((h) => h.transport === 'ssm')
    ? await import('../transport/ssm/sdk-commands.ts')
    : null;
  const clients = regionalClients((region) => {
    if (!sdk) throw new BootstrapError('INTERNAL', 'SSM client unavailable');
    return new sdk.SSMClient(ssmClientConfig(region, options.profile));
  });
  const shell = io.env['BOOTSTRAP_LOCAL_SHELL'];
  const fleet = createInventoryFleet(inventory, {
    ...(options.acceptNewHostKey ? { ssh: { acceptNewHostKey: true } } : {}),
    ...(shell ? { localShell: shell } : {}),
    ssmClientFor: clients.clientFor,
  });
  const live = io.stderrIsTty ? createLiveProgress(io.stderr, paletteFor(true, io.env)) : undefined;
  let release = () => {};
  try {
    // One target whose inventory section is malformed is refused here, with its CONFIG_ERROR.
    const selected = selectTargets(fleet, options.select);
    if (options.dryRun) {
      // Every target first: a malformed section refuses the dry run before any program is printed.
      for (const host of selected.map((name) => fleet.target(name))) {
        const dry = (await runCommand(host, request, { dryRun: true })) as { program: string };
        io.stdout(`# ${host.name}\n${dry.program}\n`);
      }
      return 0;
    }
    // A long command's id is known from the start, so that an interrupt can say which
    // operation goes on, on the hosts where it started (interrupt.ts).
    const long = rowOf(COMMAND_TABLE, request.command).long;
    const operationId = options.operationId ?? (long ? newOperationId() : undefined);
    const stop = new AbortController();
    release = long
      ? onInterrupt(
          io,
          options,
          {
            command: request.command,
            operationId: operationId!,
            where: `the hosts of --select ${options.select} where it had started (no other will start it)`,
          },
          stop,
        )
      : release;
    const result = await runFleetOperation(
      {
        fleet,
        deliver: createDeliver(io.env, (r) =>
          io.stderr(
            `callback: ${r.event} ${r.target} attempt ${r.attempts}${r.error ? `: ${r.error}` : ''}\n`,
          ),
        ),
        keepResult: keepCutResult(io),
      },
      {
        select: options.select,
        request,
        ...rate,
        ...(options.noHealthGate ? { healthGate: false } : {}),
        ...present({ callbackUrl: options.callback }),
        ...present({ operationId }),
        signal: stop.signal,
        ...present({ waitLockSeconds: options.waitLockSeconds }),
        ...(live ? { onProgress: live.onProgress } : {}),
      },
    );
    live?.stop();
    io.stdout(
      options.json
        ? `${JSON.stringify(result)}\n`
        : `${formatFleet(result, paletteFor(io.stdoutIsTty === true, io.env))}\n`,
    );
    return result.status === 'succeeded' ? 0 : 4;
  } finally {
    release();
    live?.stop();
    await fleet.close();
    for (const client of clients.made()) client.destroy();
  }
}

/** `--ssh-config FILE` wins over the inventory's `ssh_config`. */
function withSshConfig(inventory: Inventory, file: string | undefined): Inventory {
  return file === undefined ? inventory : { ...inventory, sshConfig: file };
}
