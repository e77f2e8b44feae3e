/**
 * The SSM SDK's commands (sdk-commands.ts), loaded on first use and once: every caller awaits the
 * same promise, so calls made in one order reach the SDK in that order (two `import()`s are two
 * promises, and batches sent together could overtake each other).
 */
type SdkCommands = typeof import('./sdk-commands.ts');

let loading: Promise<SdkCommands> | undefined;

export function ssmCommands(): Promise<SdkCommands> {
  loading ??= import('./sdk-commands.ts').catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}
