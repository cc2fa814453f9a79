// Option parsing for every subcommand: declared options with types, defaults and help; clear errors.
import { ResnetError } from '../runtime/errors.js';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean';

export interface OptionDef {
  type: OptionType;
  default?: string | number | boolean;
  help: string;
  /** Allowed values for a string option. */
  choices?: readonly string[];
  /** Smallest allowed value for number/integer options. */
  min?: number;
}

export type OptionDefs = Record<string, OptionDef>;

export type ParsedOptions<D extends OptionDefs> = {
  [K in keyof D]: D[K]['type'] extends 'boolean' ? boolean : D[K]['type'] extends 'string' ? string : number;
};

function usageError(message: string): ResnetError {
  return new ResnetError('RN_INVALID_ARGUMENT', message);
}

/**
 * Parses `--name value`, `--name=value` and bare boolean flags (`--json`, or fb.resnet.torch's
 * `--flag true|false`). Returns the options with defaults applied and the positional arguments.
 */
export function parseOptions<D extends OptionDefs>(
  argv: readonly string[],
  defs: D,
  command: string,
): { options: ParsedOptions<D>; positionals: string[] } {
  const values: Record<string, string | number | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const def = defs[name];
    if (!def) {
      const near = Object.keys(defs).find((k) => k.toLowerCase() === name.toLowerCase());
      throw usageError(
        `${command}: unknown option '--${name}'` + (near ? ` (did you mean --${near}?)` : '') + `; see \`resnet-node ${command} --help\``,
      );
    }
    let raw: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (def.type === 'boolean') {
      if (raw === undefined && (argv[i + 1] === 'true' || argv[i + 1] === 'false')) raw = argv[++i];
      values[name] = raw === undefined ? true : raw !== 'false';
      continue;
    }
    if (raw === undefined) {
      if (i + 1 >= argv.length) throw usageError(`${command}: option --${name} needs a value`);
      raw = argv[++i];
    }
    values[name] = convert(command, name, def, raw);
  }
  const options: Record<string, string | number | boolean> = {};
  for (const [name, def] of Object.entries(defs)) {
    const value = values[name] ?? def.default;
    if (value !== undefined) options[name] = value;
  }
  return { options: options as ParsedOptions<D>, positionals };
}

function convert(command: string, name: string, def: OptionDef, raw: string): string | number {
  if (def.type === 'string') {
    if (def.choices && !def.choices.includes(raw)) {
      throw usageError(`${command}: Expected one of ${def.choices.join('|')} for --${name} but received '${raw}'`);
    }
    return raw;
  }
  const value = Number(raw);
  const wantInt = def.type === 'integer';
  if (raw.trim() === '' || !Number.isFinite(value) || (wantInt && !Number.isInteger(value)) || (def.min !== undefined && value < def.min)) {
    const what = wantInt ? 'an integer' : 'a number';
    const bound = def.min !== undefined ? ` ≥ ${def.min}` : '';
    throw usageError(`${command}: Expected ${what}${bound} for --${name} but received '${raw}'`);
  }
  return value;
}

export function formatHelp(command: string, summary: string, defs: OptionDefs, usage?: string): string {
  const lines = [`Usage: resnet-node ${usage ?? `${command} [options]`}`, '', summary, '', 'Options:'];
  const width = Math.max(...Object.keys(defs).map((k) => k.length)) + 4;
  for (const [name, def] of Object.entries(defs)) {
    const flag = `--${name}`.padEnd(width + 2);
    const meta = def.choices ? ` (${def.choices.join('|')})` : '';
    const dflt = def.default !== undefined && def.default !== '' ? ` [default: ${def.default}]` : '';
    lines.push(`  ${flag}${def.help}${meta}${dflt}`);
  }
  return lines.join('\n');
}
