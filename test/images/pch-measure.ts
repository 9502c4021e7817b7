// Measures what the gcc image's precompiled <bits/stdc++.h> saves: the default C++ compile of a
// 10-line bits/stdc++.h program, through the real sandbox, with the PCH and with the header parsed
// (the same program behind one leading declaration, which g++ takes as "no PCH possible"). The two
// alternate run by run so that the machine's noise falls on both. Prints figures, asserts nothing:
//
//   node --import tsx test/images/pch-measure.ts [RUNS]      (default 10 runs of each)
import { ImageStore, DEFAULT_IMAGE_ROOT } from '../../rootfs-images/store.ts';
import { getLanguage, commandsFor } from '../../rootfs-images/languages.ts';
import type { SandboxOutcome } from '../../worker/sandbox/index.ts';
import { createVolume, runInSandbox } from '../helpers/sandbox.ts';
import { COMPILE_LIMITS, describeOutcome } from './run-language.ts';
import { STDCXX_PROGRAM, pchLines } from './pch-programs.ts';

const runs = Number(process.argv[2] ?? 10);
const store = new ImageStore(process.env.CORRAL_IMAGES_DIR ?? DEFAULT_IMAGE_ROOT);
const lang = getLanguage('cpp')!;
const { layerDirs } = await store.resolve(lang.image);

async function compile(source: string, flags: string[] = []): Promise<SandboxOutcome> {
  const volume = await createVolume({ sizeBytes: 256 * 2 ** 20 });
  try {
    await volume.writeFile(lang.fileName, source);
    const argv = commandsFor(lang, { flags }).compile!;
    const out = await runInSandbox({ layers: layerDirs, env: lang.runEnv, box: { dir: volume.dir }, argv, limits: COMPILE_LIMITS });
    if (out.status !== 'ok') throw new Error(`compile failed: ${describeOutcome(out)}`);
    return out;
  } finally {
    await volume.destroy();
  }
}

const variants = {
  'with PCH': STDCXX_PROGRAM,
  'header parsed': `static int corral_no_pch;\n${STDCXX_PROGRAM}`,
};
// Say which variant really used a PCH (g++ -H marks a used one with '!').
for (const [name, source] of Object.entries(variants)) {
  const used = pchLines((await compile(source, ['-H'])).stderr.toString('utf8')).used;
  console.log(`${name}: ${used.length ? `uses ${used.join(', ')}` : 'uses no PCH'}`);
}

const samples: Record<string, { wallMs: number[]; cpuMs: number[]; memoryKb: number[] }> = {};
for (let i = 0; i < runs; i++) {
  for (const [name, source] of Object.entries(variants)) {
    const out = await compile(source);
    const s = (samples[name] ??= { wallMs: [], cpuMs: [], memoryKb: [] });
    s.wallMs.push(out.wallMs);
    s.cpuMs.push(out.cpuMs);
    s.memoryKb.push(out.memoryKb);
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
console.log(`\ng++ -O2 -std=gnu++20 -pipe -o main main.cpp in the sandbox, ${runs} runs each (ms; memory: peak cgroup MiB)`);
console.log('variant        wall p50  wall p90  wall min  cpu p50  memory p50');
for (const [name, s] of Object.entries(samples)) {
  console.log(`${name.padEnd(13)}  ${[pct(s.wallMs, 0.5), pct(s.wallMs, 0.9), Math.min(...s.wallMs), pct(s.cpuMs, 0.5)]
    .map((v) => String(Math.round(v)).padStart(8)).join('  ')}  ${String(Math.round(pct(s.memoryKb, 0.5) / 1024)).padStart(10)}`);
}
const top = await store.readLayer((await store.readImage(lang.image))!.layers.at(-1)!);
console.log(`\ngcc layer ${top.id}: ${(top.sizeBytes / 2 ** 20).toFixed(1)} MiB`);
