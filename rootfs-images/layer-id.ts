// A layer's id is the hash of everything that decides its files: the recipe fields the builder
// reads, its parent layer's id and the builder's format version. Languages, env and description
// are left out on purpose: changing a run command must not rebuild a 1 GB layer.
import { createHash } from 'node:crypto';
import type { Recipe } from './recipe.ts';

/** Bump when the builder changes how it makes layers, so every layer is rebuilt once. */
export const BUILDER_VERSION = 2; // 2: man1/ emptied, not kept whole

/** JSON with object keys sorted at every depth, so key order in a recipe file does not matter. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj).sort().filter((k) => obj[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function layerInputs(recipe: Recipe, parentId: string | null): unknown {
  return {
    builder: BUILDER_VERSION,
    parent: parentId,
    source: recipe.source ?? null,
    debootstrap: recipe.source === 'debootstrap' ? recipe.debootstrap ?? {} : null,
    files: recipe.files,
    packages: recipe.packages,
    setup: recipe.setup,
    // Only when present, so the ids of recipes without npm files stay what they were.
    ...(recipe.npm.length ? { npm: recipe.npm } : {}),
  };
}

/** 32 hex digits (128 bits) of SHA-256: short enough for overlay option strings, long enough. */
export function layerId(recipe: Recipe, parentId: string | null): string {
  return createHash('sha256').update(canonicalJson(layerInputs(recipe, parentId))).digest('hex').slice(0, 32);
}
