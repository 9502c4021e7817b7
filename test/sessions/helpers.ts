// Shared by the kernel session tests: the python image this checkout's recipe describes (found by
// its layer ids, so another checkout rebuilding "python" from an older recipe does not change what
// these tests run), and a session = one volume + one KernelChannel, closed and destroyed after.
import { readFileSync } from 'node:fs';
import { DEFAULT_PATH, type Volume } from '../../worker/sandbox/index.ts';
import { ImageStore } from '../../rootfs-images/store.ts';
import { chain, imageEnv, loadRecipes, RECIPE_DIR } from '../../rootfs-images/recipe.ts';
import { layerId } from '../../rootfs-images/layer-id.ts';
import { KernelChannel, type KernelChannelOptions, type ChannelCloseReason } from '../../worker/sessions/kernel-channel.ts';
import { createVolume, testHost } from '../helpers/sandbox.ts';

/**
 * KERNEL_BRIDGE_FROM_CHECKOUT=1 runs this checkout's rootfs-images/files/kernel-bridge.py (copied
 * into /box) instead of the image's: for working on the bridge without a rebuild per change.
 */
const bridgeFromCheckout = process.env.KERNEL_BRIDGE_FROM_CHECKOUT === '1';

export interface KernelImage {
  layers: string[];
  env: Record<string, string>;
}

/** The python image of this checkout's recipes, or why it cannot be used (to skip with). */
export function kernelImage(): KernelImage | { skip: string } {
  const recipes = loadRecipes();
  if (bridgeFromCheckout) {
    // Whatever "python" is built, as long as it has ipykernel: the bridge comes from the checkout.
    const meta = readImageMeta();
    if (meta) return { layers: meta.layers.map((id) => new ImageStore().layerFsDir(id)), env: { PATH: DEFAULT_PATH, HOME: '/box', LANG: 'C.UTF-8', ...imageEnv(recipes, 'python') } };
  }
  const store = new ImageStore();
  const ids: string[] = [];
  for (const recipe of chain(recipes, 'python')) ids.push(layerId(recipe, ids.at(-1) ?? null));
  const missing = ids.filter((id) => !store.hasLayer(id));
  if (missing.length) {
    return { skip: `the python image of this checkout (with ipykernel and the kernel bridge) is not built (layers ${missing.join(', ')} missing): ./bin/corral images build python` };
  }
  return {
    layers: ids.map((id) => store.layerFsDir(id)),
    env: { PATH: DEFAULT_PATH, HOME: '/box', LANG: 'C.UTF-8', ...imageEnv(recipes, 'python') },
  };
}

function readImageMeta(): { layers: string[] } | undefined {
  try {
    return JSON.parse(readFileSync(`${new ImageStore().root}/images/python.json`, 'utf8')) as { layers: string[] };
  } catch {
    return undefined;
  }
}


export interface Session {
  channel: KernelChannel;
  volume: Volume;
  /** Closes the channel and destroys the volume; the close reason. */
  end(): Promise<ChannelCloseReason>;
}

export async function openSession(image: KernelImage, options: Partial<KernelChannelOptions> = {}): Promise<Session> {
  const host = testHost();
  const volume = await createVolume({ sizeBytes: 64 * 1024 * 1024, host });
  let bridgeArgv = options.bridgeArgv;
  if (!bridgeArgv && bridgeFromCheckout) {
    await volume.writeFile('.kernel-bridge.py', readFileSync(`${RECIPE_DIR}/files/kernel-bridge.py`));
    bridgeArgv = ['python3', '/box/.kernel-bridge.py'];
  }
  const channel = new KernelChannel({
    layers: image.layers, imageName: 'python', env: image.env, box: { dir: volume.dir }, stream: (spec, o) => host.stream(spec, o),
    limits: { wallMs: 5 * 60_000, cpuMs: 5 * 60_000 },
    startTimeoutMs: 120_000,
    ...options,
    ...(bridgeArgv ? { bridgeArgv } : {}),
  });
  return {
    channel,
    volume,
    async end() {
      const reason = await channel.close();
      await volume.destroy();
      return reason;
    },
  };
}
