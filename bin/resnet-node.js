#!/usr/bin/env node
// The `resnet-node` command: runs the compiled CLI in dist/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'index.js');
if (!existsSync(entry)) {
  console.error(`resnet-node: ${entry} is missing; build the TypeScript first with \`npm run build:ts\` (npm ci does it).`);
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
