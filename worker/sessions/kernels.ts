// Which languages have a notebook kernel, and how it starts: a table in code, read by the session
// host (session-host.ts) after the language registry has resolved the language's image. A new
// kernel (a JavaScript or R one) is a row here naming its kernelspec argv, with the bridge
// installed in its image: the API, the protocol and the host do not change.
import { DEFAULT_PATH } from '../sandbox/index.ts';

export interface KernelSpec {
  /** The kernel's argv with a `{connection_file}` element; undefined = the bridge's default (ipykernel). */
  kernelArgv?: string[];
  /** Variables the container gets beneath the language's own (PATH, HOME, LANG). */
  baseEnv: Record<string, string>;
}

const BASE_ENV = { PATH: DEFAULT_PATH, HOME: '/box', LANG: 'C.UTF-8' };

/** By the registry's language id (aliases are resolved before: `python3`, `py` → `python`). */
const KERNELS: Record<string, KernelSpec> = {
  python: { baseEnv: BASE_ENV },
};

/** The kernel of a resolved language id, or undefined when it has none. */
export function kernelFor(languageId: string): KernelSpec | undefined {
  return Object.hasOwn(KERNELS, languageId) ? KERNELS[languageId] : undefined;
}

/** Language ids with a kernel (for error messages and docs). */
export function kernelLanguages(): string[] {
  return Object.keys(KERNELS);
}
