// Types of the validator that `npm run build` generates (scripts/gen-validator.ts) next to the
// compiled validate.js: ajv's standalone code for the file schema.
import type { ErrorObject } from 'ajv';

declare const validateFile: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
export default validateFile;
