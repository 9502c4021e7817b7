// A submission's program files: additional_files (a base64 zip, unpacked by Corral's own reader
// with caps and no path escape) and how source_code travels to RunService (as `source`, or as a
// file under the language's file name when it is not UTF-8 or has files beside it).
import type { RunRequest } from '../../../core/schemas.ts';
import { isValidUtf8 } from '../common/phase-output.ts';
import { decodeJudge0Base64 } from './base64.ts';
import type { Judge0Options } from './options.ts';
import { text, type AddFieldError } from './submission-casting.ts';
import { readZip, ZipError } from './zip-reader.ts';

export interface AdditionalFiles {
  /** The field as sent (echoed back by `fields=additional_files`), or null. */
  raw: string | null;
  files: Array<{ path: string; data: Buffer }>;
}

const ZIP_NAME_MAX_CHARS = 255;

export function readAdditionalFiles(b: Record<string, unknown>, o: Judge0Options, add: AddFieldError): AdditionalFiles {
  const raw = text(b.additional_files);
  if (raw === undefined || raw === '') return { raw: null, files: [] };
  if (!o.enableAdditionalFiles) { add('additional_files', 'setting additional files is not allowed'); return { raw, files: [] }; }
  try {
    const files = readZip(decodeJudge0Base64(raw), {
      maxTotalBytes: o.maxExtractSizeKb * 1024,
      maxEntries: o.maxExtractFiles,
      maxNameChars: ZIP_NAME_MAX_CHARS,
    });
    return { raw, files };
  } catch (err) {
    if (!(err instanceof ZipError)) throw err;
    add('additional_files', `invalid zip: ${err.message}`);
    return { raw, files: [] };
  }
}

/** The message when a zip entry would overwrite the source file, or null. */
export function sourceFileClash(files: AdditionalFiles['files'], fileName: string): string | null {
  return files.some((f) => f.path === fileName) ? `contains ${fileName}, which is where source_code is written` : null;
}

/**
 * The program part of a RunRequest: UTF-8 source alone travels as `source`; otherwise the source
 * is written under the language's file name (base64 when it is not UTF-8) beside the zip's files.
 */
export function programFiles(source: Buffer, fileName: string, extra: AdditionalFiles['files']): Pick<RunRequest, 'source' | 'files'> {
  if (extra.length === 0 && isValidUtf8(source)) return { source: source.toString('utf8') };
  const main = isValidUtf8(source)
    ? { path: fileName, content: source.toString('utf8'), encoding: 'utf8' as const }
    : { path: fileName, content: source.toString('base64'), encoding: 'base64' as const };
  return { files: [main, ...extra.map((f) => ({ path: f.path, content: f.data.toString('base64'), encoding: 'base64' as const }))] };
}
