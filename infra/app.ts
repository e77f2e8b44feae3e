/**
 * The CDK app: `npm run synth` (offline, no AWS credentials) bundles the functions with
 * scripts/bundle.mjs into cdk.out/bundles and writes the template to cdk.out/. Deploy with
 * `npx aws-cdk@2 deploy --app 'node --import tsx infra/app.ts' -c key=value …` (infra/settings.ts
 * lists the keys; `-c stackName=…` names the stack). The account and region come from the
 * deploying credentials: the template itself is environment-agnostic.
 */
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { bundle, ROOT } from '../scripts/bundle.mjs';
import { bundledCode, FUNCTION_NAMES } from './function.ts';
import { readSettings } from './settings.ts';
import { CloudiqStack } from './stack.ts';

/** The stack's name unless `-c stackName=…` says otherwise. */
export const DEFAULT_STACK_NAME = 'CloudiqBootstrap';

// `cdk deploy` names the cloud assembly's directory in CDK_OUTDIR; `npm run synth` writes cdk.out/.
const app = new App({ outdir: process.env['CDK_OUTDIR'] ?? join(ROOT, 'cdk.out') });
// Inside the cloud assembly, so that synthesis writes nowhere else.
const bundleDir = join(app.outdir, 'bundles');
await bundle({ outdir: bundleDir, cli: false, functions: [...FUNCTION_NAMES] });
const stackName = String(app.node.tryGetContext('stackName') ?? DEFAULT_STACK_NAME);
new CloudiqStack(app, stackName, {
  settings: readSettings((key) => app.node.tryGetContext(key)),
  code: bundledCode(bundleDir),
  description:
    'cloudiq-bootstrap: API and its console, worker, fleet heartbeat and batch upgrades over SSH and SSM',
});
app.synth();
