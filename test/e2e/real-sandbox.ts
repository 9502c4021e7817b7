// The real pieces for e2e tests: the sandbox launcher and the image registry. When this host
// cannot run them, `skip` says why (tests then skip with that reason printed, never fake-pass).
import type { Launcher } from '../../worker/launcher.ts';
import type { LanguageRegistry } from '../../worker/language-registry.ts';
import { startStack, type Stack } from './harness.ts';

export const IMAGES_DIR = process.env.CORRAL_IMAGES_DIR || '/var/lib/corral/images';

export interface RealSandbox {
  launcher: Launcher;
  registry: LanguageRegistry;
  selfTest: () => Promise<void>;
  available: Set<string>;
}

export async function realSandbox(): Promise<RealSandbox | { skip: string }> {
  if (process.getuid?.() !== 0) return { skip: 'the sandbox needs root' };
  try {
    const { sandboxLauncher } = await import('../../worker/launcher.ts');
    const { imagesRegistry } = await import('../../worker/language-registry.ts');
    const { sandboxSelfTest } = await import('../../worker/self-test.ts');
    const { testHost } = await import('../helpers/sandbox.ts');
    const launcher = sandboxLauncher(testHost());
    await sandboxSelfTest(launcher, IMAGES_DIR);
    const registry = await imagesRegistry(IMAGES_DIR);
    const available = new Set((await registry.list()).filter((l) => l.available).map((l) => l.id));
    return { launcher, registry, selfTest: () => sandboxSelfTest(launcher, IMAGES_DIR), available };
  } catch (err) {
    return { skip: `the real sandbox is not usable here: ${(err as Error).message}` };
  }
}

/** A skip reason when a language's image is not built, else false. */
export function needs(sb: RealSandbox | { skip: string }, ...langs: string[]): string | false {
  if ('skip' in sb) return sb.skip;
  const missing = langs.filter((l) => !sb.available.has(l));
  return missing.length ? `image for ${missing.join(', ')} not built in ${IMAGES_DIR} (corral images build)` : false;
}

/** A whole stack on the real sandbox: two worker slots, and room for long wall limits. */
export function realStack(sb: RealSandbox): Promise<Stack> {
  return startStack({ launcher: sb.launcher, registry: sb.registry, selfTest: sb.selfTest, env: { CORRAL_WORKER_SLOTS: '2', CORRAL_RUN_WALL_MS_MAX: '600000' } });
}
