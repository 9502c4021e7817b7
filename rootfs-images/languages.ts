// The language registry: what the recipes in rootfs-images/ offer, and which of it is built here.
import { ImageStore } from './store.ts';
import { FILE_NAME_RE, imageEnv, loadRecipes, type Language, type Recipe } from './recipe.ts';

export interface LanguageInfo {
  id: string;
  name: string;
  /** Version string recorded when the image was built, or null when it is not built here. */
  version: string | null;
  compiled: boolean;
  fileName: string;
  /** True when the language's image is built in the store and all its layers are present. */
  available: boolean;
  image: string;
  aliases?: string[];
}

/** A language with everything needed to run it: its image and the full environment. */
export interface LanguageSpec extends Language {
  image: string;
  /** Image env (parents first) merged with the language's own env. */
  runEnv: Record<string, string>;
}

let cached: Map<string, Recipe> | null = null;

/** Recipes are read once per process; pass `recipes` to use another set (tests). */
function recipesOf(recipes?: Map<string, Recipe>): Map<string, Recipe> {
  if (recipes) return recipes;
  cached ??= loadRecipes();
  return cached;
}

export async function listLanguages(store: ImageStore = new ImageStore(), recipes?: Map<string, Recipe>): Promise<LanguageInfo[]> {
  const out: LanguageInfo[] = [];
  for (const recipe of recipesOf(recipes).values()) {
    if (!recipe.languages.length) continue;
    const meta = await store.readImage(recipe.name);
    const available = meta !== null && meta.layers.every((id) => store.hasLayer(id));
    for (const lang of recipe.languages) {
      out.push({
        id: lang.id,
        name: lang.name,
        version: available ? meta!.versions[lang.id] ?? null : null,
        compiled: lang.compile !== undefined,
        fileName: lang.fileName,
        available,
        image: recipe.name,
        ...(lang.aliases ? { aliases: lang.aliases } : {}),
      });
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** The language with this id or alias, or undefined. */
export function getLanguage(id: string, recipes?: Map<string, Recipe>): LanguageSpec | undefined {
  const all = recipesOf(recipes);
  for (const recipe of all.values()) {
    const lang = recipe.languages.find((l) => l.id === id || l.aliases?.includes(id));
    if (lang) return { ...lang, image: recipe.name, runEnv: { ...imageEnv(all, recipe.name), ...lang.env } };
  }
  return undefined;
}

export interface CommandValues {
  /** The submission's file name (default: the language's fileName). */
  file?: string;
  /** User compiler flags: each one argv element, spliced where `{flags*}` stands. */
  flags?: string[];
  /** Program arguments, spliced where `{args*}` stands. */
  args?: string[];
}

const LIST_PLACEHOLDERS = { '{flags*}': 'flags', '{args*}': 'args' } as const;

/**
 * Expands a compile or run argv. `{file}` and `{stem}` are replaced inside elements; an element
 * that is exactly `{flags*}`/`{args*}` becomes zero or more elements. No shell ever sees the
 * result, so a flag like `-DX=$(rm -rf /)` stays one literal argument.
 */
export function expandArgv(template: string[], fileName: string, values: CommandValues = {}): string[] {
  const file = values.file ?? fileName;
  if (!FILE_NAME_RE.test(file)) throw new Error(`invalid submission file name '${file}'`);
  const stem = file.includes('.') ? file.slice(0, file.lastIndexOf('.')) : file;
  const out: string[] = [];
  for (const el of template) {
    if (el in LIST_PLACEHOLDERS) {
      const list = values[LIST_PLACEHOLDERS[el as keyof typeof LIST_PLACEHOLDERS]] ?? [];
      for (const v of list) {
        if (typeof v !== 'string' || v.includes('\0')) throw new Error(`${el}: every element must be a string without NUL bytes`);
      }
      out.push(...list);
    } else {
      out.push(el.replaceAll('{file}', file).replaceAll('{stem}', stem));
    }
  }
  return out;
}

/**
 * The compiler flags of a checker's or interactor's compile: the language's judge-program flags
 * first, then the user's — or the user's alone when they hold one of the language's `unlessFlags`
 * (e.g. their own `-static` or `-pie`: a link they chose, which the default would break or undo).
 * An `unlessFlags` entry ending in `=` matches every flag that starts with it (`-fsanitize=`).
 */
export function judgeProgramFlags(lang: Language, flags: string[]): string[] {
  const own = lang.judgeProgram;
  if (!own) return flags;
  const chosen = (flag: string) => own.unlessFlags.some((u) => (u.endsWith('=') ? flag.startsWith(u) : flag === u));
  return flags.some(chosen) ? flags : [...own.flags, ...flags];
}

/** The compile argv of a language (undefined for interpreted ones) and its run argv. */
export function commandsFor(lang: Language, values: CommandValues = {}): { compile?: string[]; run: string[] } {
  return {
    ...(lang.compile ? { compile: expandArgv(lang.compile, lang.fileName, values) } : {}),
    run: expandArgv(lang.run, lang.fileName, { ...values, flags: [] }),
  };
}
