// What the pipeline needs to know about a language: its image layers, env and expanded argvs.
// The production registry reads rootfs-images/; tests may supply their own (e.g. `sh` over busybox).
import type { LanguageInfo } from '../services/core/schemas.ts';

export interface ResolvedLanguage {
  id: string;
  fileName: string;
  /** Image layer dirs, bottom first. */
  layers: string[];
  env: Record<string, string>;
  compile?: string[];
  run: string[];
}

export interface LanguageRegistry {
  list(): Promise<LanguageInfo[]>;
  /**
   * Throws (with what is missing) when the language is unknown or its image is not built.
   * `judgeProgram`: a checker's or interactor's compile, with the language's judge-program flags
   * (rootfs-images/recipe.ts); a registry without such flags compiles it as any program.
   */
  resolve(id: string, values: { flags: string[]; args: string[]; judgeProgram?: boolean }): Promise<ResolvedLanguage>;
}

export class UnknownLanguageError extends Error {
  constructor(id: string, why: string) {
    super(`language ${id}: ${why}`);
    this.name = 'UnknownLanguageError';
  }
}

/** The registry over rootfs-images/ (recipes in the store at `imagesDir`). */
export async function imagesRegistry(imagesDir: string): Promise<LanguageRegistry> {
  const { ImageStore } = await import('../rootfs-images/store.ts');
  const langs = await import('../rootfs-images/languages.ts');
  const store = new ImageStore(imagesDir);
  return {
    async list() {
      return (await langs.listLanguages(store)).map((l) => ({
        id: l.id, name: l.name, version: l.version ?? '', compiled: l.compiled, fileName: l.fileName, available: l.available,
      }));
    },
    async resolve(id, values) {
      const spec = langs.getLanguage(id);
      if (!spec) throw new UnknownLanguageError(id, 'no such language');
      const image = await store.resolve(spec.image).catch((e: Error) => { throw new UnknownLanguageError(id, e.message); });
      const flags = values.judgeProgram ? langs.judgeProgramFlags(spec, values.flags) : values.flags;
      const cmds = langs.commandsFor(spec, { flags, args: values.args });
      return { id: spec.id, fileName: spec.fileName, layers: image.layerDirs, env: spec.runEnv, ...(cmds.compile ? { compile: cmds.compile } : {}), run: cmds.run };
    },
  };
}
