// Address ranges given in configuration ("a.b.c.d/n, x:y::/n"), as net.BlockLists. Used for the
// networks callbacks must never reach (worker/callback-request.ts).
import { BlockList, isIP } from 'node:net';

/** Parses "a.b.c.d/n, x:y::/n, a.b.c.d" into a BlockList; throws on the first bad entry. */
export function parseNetworks(list: string): BlockList {
  const blocked = new BlockList();
  for (const entry of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [, address = '', bits] = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(entry) ?? [];
    const family = isIP(address);
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (!family || prefix > (family === 6 ? 128 : 32)) {
      throw new RangeError(`not a network (address/prefix): ${JSON.stringify(entry)}`);
    }
    blocked.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return blocked;
}

export function isBlocked(blocked: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && blocked.check(address, family === 6 ? 'ipv6' : 'ipv4');
}
