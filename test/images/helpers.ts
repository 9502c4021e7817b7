// Shared by the images tests: temp stores, recipe sets, and mount bookkeeping.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ImageStore } from '../../rootfs-images/store.ts';
import { parseRecipe, checkRecipes, type Recipe, type RecipeInput } from '../../rootfs-images/recipe.ts';
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
/** The host's mounts, minus the job volumes that sandbox tests running in parallel mount. */
export async function mountTable(): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter(Boolean)
    .filter((l) => !(l.split(' ')[4] ?? '').startsWith('/var/lib/corral/volumes/'))
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
