// `resnet-node` entry: dispatches subcommands; every failure is one clear line and a non-zero exit.
import { readFileSync } from 'node:fs';

import { ResnetError } from '../runtime/errors.js';
import { bench } from './bench/index.js';
import { doctor } from './doctor.js';
import { info } from './info.js';
import { launch } from './launch.js';
import { train } from './train.js';

type Command = { summary: string; run: (argv: readonly string[]) => Promise<number> };

const commands: Record<string, Command> = {
  train: { summary: 'train a ResNet (fb.resnet.torch options); with no options, ResNet-20 on the bundled digits', run: train },
  info: { summary: "a model's parameters, multiply-adds and training memory (naive / shareGradInput / planned)", run: info },
  launch: { summary: 'start N training processes per node (torchrun environment) that train together over Gloo', run: launch },
  doctor: { summary: 'report the addon, oneDNN, CPU features and GPU backends', run: doctor },
  bench: { summary: 'benchmark ops or training against PyTorch measured in the same run', run: bench },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function usage(): string {
  const lines = ['Usage: resnet-node <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)}${c.summary}`);
  lines.push('', 'Run `resnet-node <command> --help` for a command\'s options.');
  return lines.join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`resnet-node: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof ResnetError) {
      // Messages of the option parser already name the command ("train: …"): say it once.
      const message = error.message.startsWith(`${name}: `) ? error.message.slice(name.length + 2) : error.message;
      console.error(`resnet-node ${name}: ${message}`);
      return error.code === 'RN_INVALID_ARGUMENT' ? 2 : 1;
    }
    throw error;
  }
}
