// Shared by the images tests: temp stores, recipe sets, and mount bookkeeping.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ImageStore } from '../../rootfs-images/store.ts';
import { chain, parseRecipe, checkRecipes, type Recipe, type RecipeInput } from '../../rootfs-images/recipe.ts';
import { layerId } from '../../rootfs-images/layer-id.ts';
import { createProgress } from '../../rootfs-images/builder-progress.ts';

export const quiet = createProgress(process.stderr, true);

export async function tempStore(): Promise<{ store: ImageStore; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), `corral-images-test-${randomUUID().slice(0, 8)}-`));
  return { store: new ImageStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
}

export function recipeSet(...inputs: RecipeInput[]): Map<string, Recipe> {
  const m = new Map(inputs.map((r) => [r.name, parseRecipe(r, `test recipe ${r.name}`)]));
  checkRecipes(m);
  return m;
}

/** /proc/self/mountinfo without the per-mount ids, for before/after comparisons. */
/** The host's mounts, minus the job volumes and proc views that sandbox tests and workers running
 * in parallel mount. */
export async function mountTable(): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter(Boolean)
    .filter((l) => !/^\/var\/lib\/corral\/(volumes|proc-view)\//.test(l.split(' ')[4] ?? ''))
    .map((l) => l.split(' ').slice(3).join(' ')).sort();
}

/**
 * Mounts the layers read-only, the way the sandbox does (overlay with `userxattr`, inside a new
 * user + mount namespace), and runs a fixed inspection script over the result.
 */
export function inspectOverlay(layerDirs: string[], script: string, mnt: string): { status: number | null; stdout: string; stderr: string } {
  const lowers = [...layerDirs].reverse().join(':');
  const res = spawnSync('unshare', ['--user', '--map-root-user', '--mount', '--', 'sh', '-euc',
    `mount -t overlay overlay -o "lowerdir=$1,userxattr" "$2"; cd "$2"; ${script}`, 'inspect', lowers, mnt], { encoding: 'utf8' });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/**
 * The image `name` as this checkout's recipes build it — its layers found by their ids, so an
 * image the shared store got from another checkout's older or newer recipe is never tested as if
 * it were this one — or why it cannot be used (a skip reason). CORRAL_TEST_IMAGES (space or comma
 * separated; scripts/test.sh sets the images CI builds) limits which images are tried at all:
 * `npm run test:languages` leaves it unset and tries every image.
 */
export function imageOfThisCheckout(store: ImageStore, recipes: Map<string, Recipe>, name: string): { layerDirs: string[] } | { skip: string } {
  const wanted = process.env.CORRAL_TEST_IMAGES?.split(/[\s,]+/).filter(Boolean);
  if (wanted && !wanted.includes(name)) return { skip: `image '${name}' is not among CORRAL_TEST_IMAGES (${wanted.join(' ')}); npm run test:languages tries every image` };
  const ids: string[] = [];
  for (const recipe of chain(recipes, name)) ids.push(layerId(recipe, ids.at(-1) ?? null));
  const missing = ids.filter((id) => !store.hasLayer(id));
  if (missing.length) return { skip: `image '${name}' of this checkout's recipes is not built in ${store.root} (run: corral images build ${name})` };
  return { layerDirs: ids.map((id) => store.layerFsDir(id)) };
}
