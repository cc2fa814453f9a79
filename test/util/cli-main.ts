// The resnet-node command run from the TypeScript sources (through vite-node), for tests that need real processes.
// vite-node drops every `--` from the command line, so a command that needs one comes whole, as JSON, in
// RN_CLI_ARGV (taken out of the environment, so that the processes this one starts do not inherit it).
import { main } from '../../lib/cli/index.js';

const fromEnv = process.env.RN_CLI_ARGV;
delete process.env.RN_CLI_ARGV;
process.exitCode = await main(fromEnv ? (JSON.parse(fromEnv) as string[]) : process.argv.slice(2));
