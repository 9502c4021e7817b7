// A Lua script call whose Buffer arguments go to the socket as they are. ioredis assembles a
// command with a Buffer argument into one new Buffer (Command.toWritable → MixedBuffers.toBuffer):
// for a run's result at the output caps, a copy of its tens of MB of JSON, made while the JSON is
// held — the last copy of a big output in the worker. This command writes the command's text and
// each Buffer one after another to the connection's socket, which keeps references to them until
// they are sent (no copy). Used by the run store for big results only; everything else goes
// through ioredis as usual.
import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';

/** Writes its parts to the socket itself; what it returns is the rest, written by ioredis after them. */
class PartsCommand extends Command {
  override toWritable(socket: object): string | Buffer {
    // ioredis calls this once per time the command is written, right before it writes the
    // answer to the same socket (never for a pipeline: this command is sent on its own).
    const out = socket as { write(chunk: string | Buffer): boolean };
    let text = `*${this.args.length + 1}\r\n$${Buffer.byteLength(this.name)}\r\n${this.name}\r\n`;
    for (const arg of this.args) {
      if (Buffer.isBuffer(arg)) {
        out.write(`${text}$${arg.length}\r\n`);
        out.write(arg);
        text = '\r\n';
      } else {
        const s = String(arg);
        text += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
      }
    }
    return text;
  }
}

export interface LuaScript {
  lua: string;
  sha: string;
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * EVALSHA of `script` with its Buffer arguments written as they are; loads the script first when
 * Redis does not have it (a restarted Redis). Resolves with the script's answer.
 */
export async function evalParts(redis: Redis, script: LuaScript, numKeys: number, args: Array<string | Buffer>): Promise<unknown> {
  const send = () => redis.sendCommand(new PartsCommand('evalsha', [script.sha, String(numKeys), ...args]));
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
    await redis.script('LOAD', script.lua);
    return send();
  }
}
