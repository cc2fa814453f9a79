// The resnet-node command run from the TypeScript sources (through vite-node), for tests that need real processes.
import { main } from '../../lib/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
