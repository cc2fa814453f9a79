// Atomic writes: contents land whole, and any failure leaves the old file and no temp file behind.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { writeFileAtomic, writeJsonAtomic } from '../../lib/io/atomic.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { rng } from '../util/random.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rn-atomic-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectRejectsInvalid(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => expect.fail(`expected a rejection matching ${message}`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ResnetError);
  expect((error as ResnetError).code).toBe('RN_INVALID_ARGUMENT');
  expect((error as Error).message).toMatch(message);
}

function randomBytes(n: number, seed: number): Uint8Array {
  const u = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(u() * 256));
}

describe('writeFileAtomic', () => {
  it('writes a string as UTF-8 and replaces an existing file', async () => {
    const path = join(dir, 'state.txt');
    await writeFileAtomic(path, 'first');
    await writeFileAtomic(path, 'zweite Fassung — ✓');
    expect(await readFile(path, 'utf8')).toBe('zweite Fassung — ✓');
    expect(await readdir(dir)).toEqual(['state.txt']);
  });

  it('writes bytes, including a view into a larger buffer, and an empty file', async () => {
    const path = join(dir, 'bytes.bin');
    const whole = randomBytes(1000, 1);
    await writeFileAtomic(path, whole.subarray(100, 900));
    expect(new Uint8Array(await readFile(path))).toEqual(whole.slice(100, 900));
    await writeFileAtomic(path, new Uint8Array(0));
    expect((await readFile(path)).length).toBe(0);
  });

  it('writes chunks in order from an array, a generator and an async generator', async () => {
    const parts = [randomBytes(3, 2), 'text', randomBytes(5_000_000, 3), '', new Uint8Array(0), randomBytes(7, 4)];
    const wanted = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    const path = join(dir, 'chunks.bin');
    await writeFileAtomic(path, parts);
    expect((await readFile(path)).equals(wanted)).toBe(true);
    await writeFileAtomic(path, (function* () {
      yield* parts;
    })());
    expect((await readFile(path)).equals(wanted)).toBe(true);
    await writeFileAtomic(path, (async function* () {
      for (const p of parts) yield p;
    })());
    expect((await readFile(path)).equals(wanted)).toBe(true);
  });

  it('leaves the old file untouched when the chunk generator throws midway', async () => {
    const path = join(dir, 'weights.bin');
    await writeFile(path, 'old contents');
    const failing = (function* () {
      yield randomBytes(1 << 20, 5);
      throw new Error('tensor 7 could not be read');
    })();
    await expect(writeFileAtomic(path, failing)).rejects.toThrow('tensor 7 could not be read');
    expect(await readFile(path, 'utf8')).toBe('old contents');
    expect(await readdir(dir)).toEqual(['weights.bin']);
  });

  it('leaves the old file untouched when a chunk is not bytes or text', async () => {
    const path = join(dir, 'a.bin');
    await writeFile(path, 'old');
    await expectRejectsInvalid(
      writeFileAtomic(path, ['ok', 42 as never]),
      /Expected a string or a Uint8Array for chunk 1 of the data for .*a\.bin but received number/,
    );
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['a.bin']);
  });

  it('names the path when its directory does not exist', async () => {
    const path = join(dir, 'missing', 'deeper', 'latest.json');
    await expectRejectsInvalid(
      writeFileAtomic(path, '{}'),
      new RegExp(`Expected an existing directory for the folder of ${path.replace(/[.\\]/g, '\\$&')} but received .*missing.deeper, which does not exist`),
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses to replace a directory and leaves no temp file', async () => {
    const path = join(dir, 'checkpoints');
    await mkdir(path);
    await writeFile(join(path, 'inside.txt'), 'kept');
    await expectRejectsInvalid(writeFileAtomic(path, 'x'), /Expected a file path for the path but received .*checkpoints, which is a directory/);
    expect(await readFile(join(path, 'inside.txt'), 'utf8')).toBe('kept');
    expect(await readdir(dir)).toEqual(['checkpoints']);
  });

  it('rejects data that is neither text, bytes nor chunks before touching the disk', async () => {
    const path = join(dir, 'x');
    await expectRejectsInvalid(
      writeFileAtomic(path, 3 as never),
      /Expected a string, a Uint8Array or an iterable of them for the data for .*x but received number/,
    );
    await expectRejectsInvalid(writeFileAtomic(path, null as never), /but received null/);
    await expectRejectsInvalid(writeFileAtomic('', 'x'), /Expected a non-empty string for path/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('concurrent writers each land whole: the file is one of them, and no temp file is left', async () => {
    const path = join(dir, 'best.bin');
    const versions = Array.from({ length: 20 }, (_, i) => randomBytes(100_000 + i, 10 + i));
    await Promise.all(versions.map((v) => writeFileAtomic(path, v)));
    const written = new Uint8Array(await readFile(path));
    expect(versions.some((v) => Buffer.from(v).equals(written))).toBe(true);
    expect(await readdir(dir)).toEqual(['best.bin']);
  });
});

describe('writeJsonAtomic', () => {
  it('writes indented JSON with a final newline', async () => {
    const path = join(dir, 'latest.json');
    const state = { epoch: 3, bestTop1: 22.5, files: { model: 'model_3.safetensors' }, history: [1, 2] };
    await writeJsonAtomic(path, state);
    const text = await readFile(path, 'utf8');
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('\n  "epoch": 3');
    expect(JSON.parse(text)).toEqual(state);
  });

  it('rejects values JSON cannot hold and keeps the old file', async () => {
    const path = join(dir, 'latest.json');
    await writeJsonAtomic(path, { epoch: 1 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expectRejectsInvalid(
      writeJsonAtomic(path, { step: 1n }),
      /Expected a JSON-serialisable value for the value for .*latest\.json but received .*BigInt/,
    );
    await expectRejectsInvalid(writeJsonAtomic(path, circular), /circular/);
    await expectRejectsInvalid(writeJsonAtomic(path, undefined), /but received undefined/);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ epoch: 1 });
    expect(await readdir(dir)).toEqual(['latest.json']);
  });
});
