// Recipes are data: one JSON file per image in rootfs-images/. This module validates them and
// walks parent chains; it never runs anything.
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { IMAGE_NAME_RE } from './store.ts';

export const RECIPE_DIR = dirname(fileURLToPath(import.meta.url));

const argv = z.array(z.string().min(1)).min(1);
/** A submission's file name in /box: one path component, no leading dot. */
export const FILE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

const envMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string());

export const languageSchema = z.object({
  /** Stable id used by the API (`c`, `cpp`, `python`…). */
  id: z.string().regex(/^[a-z][a-z0-9_+-]*$/),
  /** Display name ("C++", "Python 3"). */
  name: z.string().min(1),
  aliases: z.array(z.string().regex(/^[a-z0-9_+.-]+$/)).optional(),
  /** File name a single-file submission is saved under in /box (e.g. main.c, Main.java). */
  fileName: z.string().regex(FILE_NAME_RE),
  /**
   * Compile argv, or absent for interpreted languages. Placeholders: `{file}`, `{stem}` inside an
   * element, and an element that is exactly `{flags*}` for zero or more user compiler flags.
   */
  compile: argv.optional(),
  /** Run argv (same placeholders; `{args*}` for zero or more program arguments). */
  run: argv,
  /** Prints the version at build time; the first non-empty output line (or versionPattern's group 1) is kept. */
  version: argv,
  versionPattern: z.string().optional(),
  /** Extra environment for compile and run, over the image's env. */
  env: envMap.optional(),
  /**
   * A checker's or interactor's compile (never a solution's): `flags` go where `{flags*}` stands,
   * before the user's compilerArgs, unless those hold one of `unlessFlags` (the user chose that
   * part of the compile, e.g. the link, themselves; an entry ending in `=` matches every flag
   * that starts with it). A judge program is compiled once and run on every test, so what makes
   * its start cheaper (a static link: no dynamic loading per run) is worth a slower compile;
   * docs/images.md, "Judge programs".
   */
  judgeProgram: z.object({
    flags: z.array(z.string().min(1)).min(1),
    unlessFlags: z.array(z.string().min(1)).default([]),
  }).strict().optional(),
  /** Example programs, run through the real sandbox by test/images/languages.test.ts. */
  examples: z.object({
    hello: z.string(),
    /** Reads all of stdin and writes it back unchanged. */
    echo: z.string(),
    /** Fails to compile (compiled languages only). */
    compileError: z.string().optional(),
    /** Exits with a non-zero status at run time. */
    runtimeError: z.string(),
  }),
});
export type Language = z.infer<typeof languageSchema>;

/** A `files[].source`: a relative path under the recipe directory, no `..` component. */
const SOURCE_RE = /^(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9_][A-Za-z0-9_./-]*$/;

const fileSchema = z.object({
  path: z.string().regex(/^\/[^\0]*$/),
  mode: z.string().regex(/^0?[0-7]{3,4}$/).default('0644'),
  /** The file's text. With `source`, loadRecipes fills it in from that file. */
  content: z.string(),
  /**
   * A file under the recipe directory (e.g. "files/kernel-bridge.py") whose text becomes
   * `content` when the recipe is loaded, so the layer id hashes the text itself, not its name.
   */
  source: z.string().regex(SOURCE_RE).optional(),
});

/**
 * One file taken from an npm registry package (runtimes such as Deno and Bun ship their binaries
 * there). Pinned by exact version and the registry's SRI integrity, so the layer id (which hashes
 * these fields) decides the bytes; rootfs-images/npm-files.ts fetches and checks it.
 */
export const npmFileSchema = z.object({
  /** Package name, optionally scoped: `@oven/bun-linux-x64-baseline`. */
  package: z.string().regex(/^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/),
  /** An exact version, never a range. */
  version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/),
  /** The tarball's `dist.integrity` as the registry lists it (`npm view PKG@VERSION dist.integrity`). */
  integrity: z.string().regex(/^sha512-[A-Za-z0-9+/]{86}==$/),
  /** The member inside the package (relative to its `package/` directory): no `..`, no leading `/`. */
  from: z.string().regex(/^[A-Za-z0-9_@+-][A-Za-z0-9_@+.-]*(?:\/[A-Za-z0-9_@+-][A-Za-z0-9_@+.-]*)*$/)
    .refine((s) => !s.split('/').some((c) => c === '..' || c === '.'), 'no . or .. components'),
  /** Where it goes in the image. */
  path: z.string().regex(/^\/[^\0]*$/),
  mode: z.string().regex(/^0?[0-7]{3,4}$/).default('0755'),
});
export type NpmFile = z.infer<typeof npmFileSchema>;

export const recipeSchema = z.object({
  name: z.string().regex(IMAGE_NAME_RE),
  description: z.string().default(''),
  /** The image this one is layered over; absent only for a root image (debootstrap/busybox source). */
  parent: z.string().optional(),
  /** How a root image's single layer is made. */
  source: z.enum(['debootstrap', 'busybox']).optional(),
  debootstrap: z.object({
    suite: z.string().default('bookworm'),
    variant: z.string().default('minbase'),
    include: z.array(z.string()).default([]),
  }).optional(),
  /** Files written into the layer before packages are installed. */
  files: z.array(fileSchema).default([]),
  /** Files taken from npm registry packages, written after `files` and before the packages. */
  npm: z.array(npmFileSchema).default([]),
  /** Debian packages installed with apt-get (no recommends). */
  packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/)).default([]),
  /** Commands run in the layer's chroot after the packages, as argv arrays. */
  setup: z.array(argv).default([]),
  /** Environment for every program run in this image (merged over the parent's). */
  env: envMap.default({}),
  /** true: built by `images build --all` only (big images CI does not need). */
  heavy: z.boolean().default(false),
  languages: z.array(languageSchema).default([]),
}).superRefine((r, ctx) => {
  if (!r.parent && !r.source) ctx.addIssue({ code: 'custom', message: 'a recipe needs either "parent" or "source"' });
  if (r.parent && r.source) ctx.addIssue({ code: 'custom', message: '"parent" and "source" exclude each other' });
  if (r.source === 'busybox' && (r.packages.length || r.setup.length || r.npm.length)) {
    ctx.addIssue({ code: 'custom', message: 'the busybox source takes no packages, npm files or setup' });
  }
});
export type Recipe = z.infer<typeof recipeSchema>;
export type RecipeInput = z.input<typeof recipeSchema>;

export class RecipeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecipeError';
  }
}

export function parseRecipe(input: unknown, where: string): Recipe {
  const res = recipeSchema.safeParse(input);
  if (!res.success) {
    const issues = res.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new RecipeError(`${where}: invalid recipe: ${issues}`);
  }
  return res.data;
}

/** All recipes of a directory (every *.json), keyed by name; the file name must match the name. */
export function loadRecipes(dir: string = RECIPE_DIR): Map<string, Recipe> {
  const out = new Map<string, Recipe>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const where = join(dir, file);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(where, 'utf8'));
    } catch (err) {
      throw new RecipeError(`${where}: not valid JSON: ${(err as Error).message}`);
    }
    const recipe = parseRecipe(withFileSources(json, dir, where), where);
    if (`${recipe.name}.json` !== file) throw new RecipeError(`${where}: name '${recipe.name}' does not match the file name`);
    out.set(recipe.name, recipe);
  }
  checkRecipes(out);
  return out;
}

/**
 * The recipe JSON with each `files[].source` read into its `content` (the two exclude each
 * other). Anything that is not the expected shape is left for the schema to reject.
 */
export function withFileSources(json: unknown, dir: string, where: string): unknown {
  const files = (json as { files?: unknown })?.files;
  if (!Array.isArray(files)) return json;
  return {
    ...(json as object),
    files: files.map((f: unknown, i) => {
      const source = (f as { source?: unknown })?.source;
      if (typeof source !== 'string') return f;
      if ((f as { content?: unknown }).content !== undefined) throw new RecipeError(`${where}: files.${i}: "content" and "source" exclude each other`);
      if (!SOURCE_RE.test(source)) throw new RecipeError(`${where}: files.${i}.source: not a relative path under the recipe directory: ${JSON.stringify(source)}`);
      try {
        return { ...(f as object), content: readFileSync(join(dir, source), 'utf8') };
      } catch (err) {
        throw new RecipeError(`${where}: files.${i}.source: ${(err as Error).message}`);
      }
    }),
  };
}

/** Parents exist, no cycles, language ids and aliases unique across all recipes. */
export function checkRecipes(recipes: Map<string, Recipe>): void {
  const ids = new Map<string, string>();
  for (const r of recipes.values()) {
    chain(recipes, r.name);
    for (const lang of r.languages) {
      for (const key of [lang.id, ...(lang.aliases ?? [])]) {
        const other = ids.get(key);
        if (other) throw new RecipeError(`language id/alias '${key}' is defined by both '${other}' and '${r.name}'`);
        ids.set(key, r.name);
      }
      if (lang.judgeProgram && !lang.compile?.includes('{flags*}')) {
        throw new RecipeError(`${r.name}: language '${lang.id}' has judgeProgram flags but no {flags*} in its compile command`);
      }
      if (lang.compile && !lang.examples.compileError) {
        throw new RecipeError(`${r.name}: language '${lang.id}' is compiled but has no examples.compileError`);
      }
    }
  }
}

/** The recipes from the root image down to `name` (bottom first). */
export function chain(recipes: Map<string, Recipe>, name: string): Recipe[] {
  const out: Recipe[] = [];
  const seen = new Set<string>();
  let cur: string | undefined = name;
  while (cur) {
    if (seen.has(cur)) throw new RecipeError(`recipe '${name}': parent cycle through '${cur}'`);
    seen.add(cur);
    const r = recipes.get(cur);
    if (!r) throw new RecipeError(cur === name ? `no recipe named '${name}'` : `recipe '${[...seen][seen.size - 2]}': parent '${cur}' has no recipe`);
    out.unshift(r);
    cur = r.parent;
  }
  return out;
}

/** The environment of programs run in an image: the parents' env, then the image's own. */
export function imageEnv(recipes: Map<string, Recipe>, name: string): Record<string, string> {
  return Object.assign({}, ...chain(recipes, name).map((r) => r.env));
}
