// What the faces give a worker: the callback formats they promise their clients. The worker
// knows no face; the process that runs one (corral up, corral worker, the tests' stacks) passes
// this in.
import type { CallbackFormatters } from '../services/core/callback-format.ts';
import { judge0CallbackFormatter } from '../services/api/compat/judge0/callback-format.ts';

export const FACE_CALLBACK_FORMATS: CallbackFormatters = Object.freeze({ judge0: judge0CallbackFormatter });
