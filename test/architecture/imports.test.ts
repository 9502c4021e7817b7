// The rules docs/architecture.md draws, kept true: every import of every module is read (static,
// re-exports and dynamic import()), resolved, and checked against the arrows each layer may
// have. A forbidden import fails here with the file, the line and the rule it breaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE_DIRS = ['bin', 'services', 'worker', 'rootfs-images', 'loadtest', 'bench'];

interface Import {
  from: string;
  to: string;
  line: number;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Relative imports of a file, resolved to paths from the repository root. */
export function importsOf(file: string, text: string): Import[] {
  const out: Import[] = [];
  const re = /(?:\bimport\s[^'"]*?from\s*|\bexport\s[^'"]*?from\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) {
    const line = text.slice(0, m.index).split('\n').length;
    const lineText = text.split('\n')[line - 1]!.trim();
    if (lineText.startsWith('//') || lineText.startsWith('*')) continue;
    out.push({ from: relative(ROOT, file), to: relative(ROOT, resolve(dirname(file), m[1]!)), line });
  }
  return out;
}

function allImports(): Import[] {
  return SOURCE_DIRS.flatMap((d) => tsFiles(join(ROOT, d))).flatMap((f) => importsOf(f, readFileSync(f, 'utf8')));
}

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** Each rule: which importers it applies to, and whether an import target is allowed. */
const RULES: Array<{ rule: string; importer: (p: string) => boolean; allowed: (to: string) => boolean }> = [
  {
    rule: 'the API never imports the worker or the sandbox (it reaches workers through Redis)',
    importer: (p) => under(p, 'services/api'),
    allowed: (to) => !under(to, 'worker') && !under(to, 'rootfs-images'),
  },
  {
    rule: 'services/core imports no face and no worker: it is what the API and the worker share',
    importer: (p) => under(p, 'services/core'),
    allowed: (to) => under(to, 'services/core'),
  },
  {
    rule: 'worker/sandbox imports nothing of jobs, services, queues or faces: only itself',
    importer: (p) => under(p, 'worker/sandbox'),
    allowed: (to) => under(to, 'worker/sandbox'),
  },
  {
    rule: 'everything outside worker/sandbox goes through its one door, worker/sandbox/index.ts',
    importer: (p) => !under(p, 'worker/sandbox'),
    allowed: (to) => !under(to, 'worker/sandbox') || to === 'worker/sandbox/index.ts',
  },
  {
    rule: 'the worker knows no face: a face that needs its own shape registers a formatter (bin/faces.ts)',
    importer: (p) => under(p, 'worker'),
    allowed: (to) => !under(to, 'services/api') && !under(to, 'bin'),
  },
  {
    rule: 'images (recipes, builder, store) are imported by the worker, never the other way round',
    importer: (p) => under(p, 'rootfs-images'),
    allowed: (to) => under(to, 'rootfs-images'),
  },
  {
    rule: 'loadtest/ talks to a Corral over HTTP only: it imports itself and the configuration, never the worker, the sandbox, the images or bin/ (in-process measurements are bench/\'s, run as processes)',
    importer: (p) => under(p, 'loadtest'),
    allowed: (to) => under(to, 'loadtest') || to === 'services/core/config.ts',
  },
  {
    rule: 'bench/ measures in-process through the doors: the sandbox\'s index, the language registry, and bin/stack.ts for a whole Corral; never a face',
    importer: (p) => under(p, 'bench'),
    allowed: (to) => !under(to, 'services/api') && (!under(to, 'worker') || to === 'worker/sandbox/index.ts' || to === 'worker/language-registry.ts'),
  },
];

test('no module imports across a layer boundary the architecture forbids', () => {
  const broken: string[] = [];
  for (const imp of allImports()) {
    for (const r of RULES) {
      if (r.importer(imp.from) && !r.allowed(imp.to)) broken.push(`${imp.from}:${imp.line} imports ${imp.to} — ${r.rule}`);
    }
  }
  assert.deepEqual(broken, [], `forbidden imports:\n  ${broken.join('\n  ')}`);
});

test('the sandbox has no import cycle (host.ts, volume.ts and the run paths know each other only by interface)', () => {
  const graph = new Map<string, Set<string>>();
  for (const imp of allImports()) {
    if (!under(imp.from, 'worker/sandbox') || !under(imp.to, 'worker/sandbox')) continue;
    if (!graph.has(imp.from)) graph.set(imp.from, new Set());
    graph.get(imp.from)!.add(imp.to);
  }
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (node: string, path: string[]) => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
      return;
    }
    state.set(node, 'visiting');
    for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});

test('the checker itself sees imports, re-exports and dynamic imports (so the rules above can fail)', () => {
  const file = join(ROOT, 'services/api/example.ts');
  const found = importsOf(file, [
    "import { a } from '../../worker/sandbox/host.ts';",
    "export { b } from './b.ts';",
    "const m = await import('../core/c.ts');",
    "// import { x } from '../../worker/x.ts';",
  ].join('\n')).map((i) => i.to);
  assert.deepEqual(found, ['worker/sandbox/host.ts', 'services/api/b.ts', 'services/core/c.ts']);
  const apiRule = RULES[0]!;
  assert.equal(apiRule.allowed('worker/sandbox/host.ts'), false);
  const loadtestRule = RULES.find((r) => r.rule.startsWith('loadtest/'))!;
  assert.equal(loadtestRule.allowed('worker/sandbox/index.ts'), false);
  assert.equal(loadtestRule.allowed('bench/sandbox-series.ts'), false);
});
