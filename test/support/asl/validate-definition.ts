/**
 * Validates an ASL definition with `asl-validator` (the JSON schemas of the Amazon States
 * Language plus its transition and path checks) and throws with its messages.
 */
import { createRequire } from 'node:module';

type Validator = (
  definition: unknown,
  options?: { checkPaths: boolean; checkArn: boolean },
) => {
  isValid: boolean;
  errorsText: (separator?: string) => string;
};

// asl-validator is CommonJS without type declarations.
const validator = createRequire(import.meta.url)('asl-validator') as Validator;

/** Throws when the definition is not valid ASL, with every message of asl-validator. */
export function validateDefinition(definition: object): void {
  // asl-validator writes QueryLanguage into the states it checks: give it a copy.
  const { isValid, errorsText } = validator(structuredClone(definition), {
    checkPaths: true,
    checkArn: true,
  });
  if (!isValid) throw new Error(`invalid state machine definition:\n${errorsText('\n')}`);
}
