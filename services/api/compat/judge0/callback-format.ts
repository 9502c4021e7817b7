// Judge0's callback body as a worker builds it: the submission with Judge0's default fields,
// base64-encoded, as Judge0 PUTs it. Registered under the format name 'judge0' by the process
// that composes a worker with the faces (bin/faces.ts); the Judge0 face queues its runs with
// callbackFormat 'judge0'.
import type { CallbackFormatter } from '../../../core/callback-format.ts';
import { judge0CallbackBody } from './submission-response.ts';

export const judge0CallbackFormatter: CallbackFormatter = (result, limits) =>
  judge0CallbackBody(result, limits ? { memoryLimitKb: limits.memoryMb * 1024, outputBytes: limits.outputBytes } : {});
