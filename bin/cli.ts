// The one Corral CLI. Each sub-command lives in bin/commands/<name>.ts and exports
// `summary` (one line for the overview), `help` (its full --help text) and `run(args)`.
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const COMMANDS = ['up', 'api', 'worker', 'sandbox', 'images'] as const;

interface CommandModule {
  summary: string;
  help: string;
  run(args: string[]): Promise<number | void>;
}

const here = dirname(fileURLToPath(import.meta.url));

async function load(name: string): Promise<CommandModule | undefined> {
  const file = join(here, 'commands', `${name}.ts`);
  if (!existsSync(file)) return undefined;
  return (await import(pathToFileURL(file).href)) as CommandModule;
}

async function overview(): Promise<string> {
  const lines = ['Usage: corral <command> [options]', '', 'Commands:'];
  for (const name of COMMANDS) {
    const mod = await load(name);
    if (mod) lines.push(`  ${name.padEnd(9)} ${mod.summary}`);
  }
  lines.push('', 'Run `corral <command> --help` for the options of one command.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await overview());
    return name ? 0 : 2;
  }
  const mod = (COMMANDS as readonly string[]).includes(name) ? await load(name) : undefined;
  if (!mod) {
    console.error(`corral: unknown command '${name}'\n\n${await overview()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(mod.help);
    return 0;
  }
  return (await mod.run(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(`corral: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
