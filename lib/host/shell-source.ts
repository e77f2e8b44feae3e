import { readFileSync } from 'node:fs';

/**
 * The sh prelude (lib/host/prelude.sh) as text. Bundles replace this module with the text
 * inlined (scripts/bundle.mjs), so a bundled CLI or Lambda needs no file beside it.
 */
export const PRELUDE: string = readFileSync(new URL('./prelude.sh', import.meta.url), 'utf8');
