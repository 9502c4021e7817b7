// `corral images …`: build, list, remove and garbage-collect rootfs images; list languages.
import { parseArgs } from 'node:util';
import { ImageStore, DEFAULT_IMAGE_ROOT } from '../../rootfs-images/store.ts';
import { loadConfig } from '../../services/core/config.ts';
import { loadRecipes } from '../../rootfs-images/recipe.ts';
import { listLanguages } from '../../rootfs-images/languages.ts';
import { buildImage, BuildError, mib } from '../../rootfs-images/builder.ts';
import { createProgress } from '../../rootfs-images/builder-progress.ts';

export const summary = 'Build, list and remove rootfs images and their languages';

export const help = `Usage: corral images <command> [options]

Commands:
  build [NAME…]       Build images (and the images they are layered over). Without names:
                      the light images CI uses (busybox, base, gcc, python).
        --all         Build every recipe in rootfs-images/ (the heavy ones too).
        --force       Rebuild each named image's own top layer even if it is cached
                      (replaced in place: not while jobs are running on it).
        --quiet       No progress output.
  list [--json]       Images: name, layers, size, built-at, language versions.
  languages [--json]  Languages: id, name, version, image, whether built here.
  rm NAME…            Forget images (their layers stay until gc).
  gc                  Remove layers no image uses, and leftovers of interrupted builds.
  recipes             The recipes in rootfs-images/ and their parents.

Options:
  --root DIR          Image store (default: $CORRAL_IMAGES_DIR or ${DEFAULT_IMAGE_ROOT}).

Build logs: <root>/logs/<layer-id>.log. See docs/images.md.`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      root: { type: 'string' },
      all: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const [cmd, ...names] = positionals;
  // --root, else CORRAL_IMAGES_DIR as the one configuration parser reads it (default the store's).
  const store = new ImageStore(values.root ?? loadConfig().imagesDir);
  switch (cmd) {
    case 'build': return build(store, names, values);
    case 'list': return list(store, values.json);
    case 'languages': return languages(store, values.json);
    case 'rm': return remove(store, names);
    case 'gc': return gc(store);
    case 'recipes': return recipes();
    default:
      console.error(cmd ? `corral images: unknown command '${cmd}'\n\n${help}` : help);
      return 2;
  }
}

async function build(store: ImageStore, names: string[], opts: { all: boolean; force: boolean; quiet: boolean }): Promise<number> {
  const { all, force, quiet } = opts;
  const recipes = loadRecipes();
  const targets = all ? [...recipes.keys()] : names.length ? names : [...recipes.values()].filter((r) => !r.heavy).map((r) => r.name);
  const unknown = targets.filter((n) => !recipes.has(n));
  if (unknown.length) {
    console.error(`corral images: no recipe named ${unknown.join(', ')} (have: ${[...recipes.keys()].join(', ')})`);
    return 2;
  }
  const progress = createProgress(process.stderr, quiet);
  const started = Date.now();
  let failed = 0;
  for (const name of targets) {
    try {
      await buildImage(name, { store, recipes, progress, force: force && names.includes(name) });
    } catch (err) {
      failed++;
      progress.close();
      console.error(`corral images: build of '${name}' failed: ${(err as Error).message}`);
      if (err instanceof BuildError && err.tail.length) console.error(err.tail.map((l) => `  | ${l}`).join('\n'));
    }
  }
  progress.close();
  if (!quiet) console.error(`${targets.length - failed}/${targets.length} image(s) ready in ${((Date.now() - started) / 1000).toFixed(1)}s (store: ${store.root})`);
  return failed ? 1 : 0;
}

async function list(store: ImageStore, json: boolean): Promise<number> {
  const images = await store.list();
  if (json) {
    console.log(JSON.stringify(images, null, 2));
    return 0;
  }
  if (!images.length) {
    console.log(`no images in ${store.root} (run: corral images build)`);
    return 0;
  }
  const rows = images.map((i) => [i.name, String(i.layers.length), mib(i.sizeBytes), i.builtAt.slice(0, 19).replace('T', ' '),
    Object.entries(i.versions).map(([k, v]) => `${k} ${v}`).join(', ')]);
  printTable(['IMAGE', 'LAYERS', 'SIZE', 'BUILT (UTC)', 'VERSIONS'], rows);
  return 0;
}

async function languages(store: ImageStore, json: boolean): Promise<number> {
  const langs = await listLanguages(store);
  if (json) {
    console.log(JSON.stringify(langs, null, 2));
    return 0;
  }
  printTable(['ID', 'NAME', 'VERSION', 'IMAGE', 'BUILT', 'COMPILED'],
    langs.map((l) => [l.id, l.name, l.version ?? '-', l.image, l.available ? 'yes' : 'no', l.compiled ? 'yes' : 'no']));
  return 0;
}

async function remove(store: ImageStore, names: string[]): Promise<number> {
  if (!names.length) {
    console.error('corral images rm: name at least one image');
    return 2;
  }
  let missing = 0;
  for (const name of names) {
    if (await store.rm(name)) console.log(`removed image ${name} (run \`corral images gc\` to free its layers)`);
    else { console.error(`corral images rm: no image '${name}' in ${store.root}`); missing++; }
  }
  return missing ? 1 : 0;
}

async function gc(store: ImageStore): Promise<number> {
  const { removed, freedBytes } = await store.gc();
  console.log(`removed ${removed.length} layer(s), freed ${mib(freedBytes)}`);
  for (const id of removed) console.log(`  ${id}`);
  return 0;
}

async function recipes(): Promise<number> {
  const all = loadRecipes();
  printTable(['RECIPE', 'PARENT', 'HEAVY', 'LANGUAGES'], [...all.values()].map((r) =>
    [r.name, r.parent ?? `(${r.source})`, r.heavy ? 'yes' : 'no', r.languages.map((l) => l.id).join(' ')]));
  return 0;
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  console.log([fmt(head), ...rows.map(fmt)].join('\n'));
}
