// Options of the Piston v2 compatibility API. Piston's defaults (run 3 s, compile 10 s) and the
// configured limits a request may not exceed, in Piston's units (ms, bytes), derived from Corral's
// run and compile maxima so Piston's "cannot exceed the configured limit" message states the real
// maximum. Parsed once into a frozen object.
import { z } from 'zod';
import type { Config } from '../../../core/config.ts';

const posInt = () => z.number().int().positive();

export const PistonOptionsSchema = z.object({
  /** Path prefix the API is mounted at. */
  prefix: z.string().regex(/^(\/[A-Za-z0-9._~-]+)+$/).default('/api/v2'),
  runTimeoutMs: posInt().default(3_000),
  compileTimeoutMs: posInt().default(10_000),
  runCpuTimeMs: posInt().default(3_000),
  compileCpuTimeMs: posInt().default(10_000),
  /** Largest values a request may ask for (Piston's configured limits). */
  maxRunTimeoutMs: posInt().default(60_000),
  maxCompileTimeoutMs: posInt().default(120_000),
  maxRunCpuTimeMs: posInt().default(30_000),
  maxCompileCpuTimeMs: posInt().default(60_000),
  maxRunMemoryBytes: posInt().default(2_048 * 1024 * 1024),
  maxCompileMemoryBytes: posInt().default(2_048 * 1024 * 1024),
  /** Most files in one request. */
  maxFiles: posInt().default(100),
  /** Longest hold of POST /execute for a queued run before answering 503, ms. */
  maxWaitMs: posInt().default(60_000),
  /** Corral API keys accepted in `Authorization` (Piston's own header, as Piston's public API uses it) or X-Auth-Token; empty: open. */
  apiKeys: z.array(z.string().min(1)).default([]),
}).strict();

export type PistonOptions = Readonly<z.output<typeof PistonOptionsSchema>>;
export type PistonOptionsInput = z.input<typeof PistonOptionsSchema>;

/** Parses options; with `config`, maxima come from Corral's run and compile maxima. */
export function parsePistonOptions(input: PistonOptionsInput = {}, config?: Pick<Config, 'limits' | 'maxWaitMs' | 'apiKeys' | 'filesMax'>): PistonOptions {
  const derived: PistonOptionsInput = config ? {
    maxRunTimeoutMs: config.limits.run.max.wallMs,
    maxCompileTimeoutMs: config.limits.compile.max.wallMs,
    maxRunCpuTimeMs: config.limits.run.max.cpuMs,
    maxCompileCpuTimeMs: config.limits.compile.max.cpuMs,
    maxRunMemoryBytes: config.limits.run.max.memoryMb * 1024 * 1024,
    maxCompileMemoryBytes: config.limits.compile.max.memoryMb * 1024 * 1024,
    maxFiles: config.filesMax,
    maxWaitMs: config.maxWaitMs,
    apiKeys: [...config.apiKeys],
  } : {};
  const o = PistonOptionsSchema.parse({ ...derived, ...input });
  o.runTimeoutMs = Math.min(o.runTimeoutMs, o.maxRunTimeoutMs);
  o.compileTimeoutMs = Math.min(o.compileTimeoutMs, o.maxCompileTimeoutMs);
  o.runCpuTimeMs = Math.min(o.runCpuTimeMs, o.maxRunCpuTimeMs);
  o.compileCpuTimeMs = Math.min(o.compileCpuTimeMs, o.maxCompileCpuTimeMs);
  return Object.freeze(o);
}
