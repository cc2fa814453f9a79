// The CIFAR-10 and CIFAR-100 binary readers on files written here in the exact layout, and their errors.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CIFAR10_NORMALIZATION, CIFAR10_RECORD, CIFAR100_NORMALIZATION, loadCifar, readCifarFiles } from '../../lib/data/cifar.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { IMAGE_BYTES, pixelOf, records, withTmpDir } from './fixtures.js';

const cifar10Label = (r: number) => (r * 3 + 1) % 10;
const batchSizes = [3, 2, 4, 1, 2];
const testCount = 3;

/** data_batch_1..5.bin and test_batch.bin; records are numbered on through the train files. */
async function writeCifar10(dir: string): Promise<void> {
  let first = 0;
  for (const [b, count] of batchSizes.entries()) {
    await writeFile(join(dir, `data_batch_${b + 1}.bin`), records(count, (r) => [cifar10Label(first + r)], first));
    first += count;
  }
  await writeFile(join(dir, 'test_batch.bin'), records(testCount, (r) => [cifar10Label(100 + r)], 100));
}

const fine = (r: number) => (r * 41 + 99) % 100;
const coarse = (r: number) => (r * 7) % 20;

async function writeCifar100(dir: string, trainCount = 5, tests = 4): Promise<void> {
  await writeFile(join(dir, 'train.bin'), records(trainCount, (r) => [coarse(r), fine(r)]));
  await writeFile(join(dir, 'test.bin'), records(tests, (r) => [coarse(50 + r), fine(50 + r)], 50));
}

function expectImages(images: Uint8Array, firstRecord: number, count: number): void {
  expect(images.length).toBe(count * IMAGE_BYTES);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < IMAGE_BYTES; i++) {
      if (images[n * IMAGE_BYTES + i] !== pixelOf(firstRecord + n, i)) {
        expect.fail(`image ${n} byte ${i} is ${images[n * IMAGE_BYTES + i]}, wanted ${pixelOf(firstRecord + n, i)}`);
      }
    }
  }
}

async function rejection(promise: Promise<unknown>): Promise<ResnetError> {
  const error = await promise.then(
    () => expect.fail('expected the load to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ResnetError);
  expect((error as ResnetError).code).toBe('RN_INVALID_ARGUMENT');
  return error as ResnetError;
}

describe('loadCifar cifar10', () => {
  it('reads the five training batches in order and the test batch, CHW planes and labels exact', async () => {
    await withTmpDir(async (dir) => {
      await writeCifar10(dir);
      const data = await loadCifar(dir, { dataset: 'cifar10' });
      const trainCount = batchSizes.reduce((a, b) => a + b);
      expect(data.name).toBe('CIFAR-10');
      expect(data.classes).toBe(10);
      expect(data.normalization).toEqual(CIFAR10_NORMALIZATION);
      expect(data.train).toMatchObject({ count: trainCount, channels: 3, height: 32, width: 32 });
      expect(Array.from(data.train.labels)).toEqual(Array.from({ length: trainCount }, (_, r) => cifar10Label(r)));
      expectImages(data.train.images, 0, trainCount);
      expect(data.test.count).toBe(testCount);
      expect(Array.from(data.test.labels)).toEqual([0, 1, 2].map((r) => cifar10Label(100 + r)));
      expectImages(data.test.images, 100, testCount);
    });
  });

  it('finds the files in the cifar-10-batches-bin folder the archive unpacks to', async () => {
    await withTmpDir(async (dir) => {
      await mkdir(join(dir, 'cifar-10-batches-bin'));
      await writeCifar10(join(dir, 'cifar-10-batches-bin'));
      const data = await loadCifar(dir, { dataset: 'cifar10' });
      expect(data.train.count).toBe(12);
    });
  });

  it('names a missing file and the folder', async () => {
    await withTmpDir(async (dir) => {
      await writeCifar10(dir);
      await rm(join(dir, 'data_batch_4.bin'));
      const error = await rejection(loadCifar(dir, { dataset: 'cifar10' }));
      expect(error.message).toContain(`Expected data_batch_4.bin in ${dir} (or in ${join(dir, 'cifar-10-batches-bin')}`);
      expect(error.message).toMatch(/for the CIFAR-10 binary files but received no such file$/);
      const empty = await rejection(loadCifar(join(dir, 'nowhere'), { dataset: 'cifar10' }));
      expect(empty.message).toContain(`Expected data_batch_1.bin in ${join(dir, 'nowhere')}`);
    });
  });

  it('names a truncated file, its size and the record size', async () => {
    await withTmpDir(async (dir) => {
      await writeCifar10(dir);
      const path = join(dir, 'data_batch_3.bin');
      await writeFile(path, records(4, () => [1]).subarray(0, 4 * 3073 - 1));
      const error = await rejection(loadCifar(dir, { dataset: 'cifar10' }));
      expect(error.message).toBe(
        `loadCifar: Expected a whole number of 3073-byte records (1 label byte + 3072 pixel bytes each) for ${path} ` +
          `but received 12291 bytes (3 records and 3072 bytes over)`,
      );
    });
  });

  it('rejects an empty file', async () => {
    await withTmpDir(async (dir) => {
      await writeCifar10(dir);
      await writeFile(join(dir, 'test_batch.bin'), new Uint8Array(0));
      const error = await rejection(loadCifar(dir, { dataset: 'cifar10' }));
      expect(error.message).toContain('but received 0 bytes (0 records and 0 bytes over)');
    });
  });

  it('names the record and file of a label beyond the classes', async () => {
    await withTmpDir(async (dir) => {
      await writeCifar10(dir);
      const path = join(dir, 'data_batch_2.bin');
      await writeFile(path, records(2, (r) => [r === 1 ? 10 : 0]));
      const error = await rejection(loadCifar(dir, { dataset: 'cifar10' }));
      expect(error.message).toBe(`loadCifar: Expected a class in 0..9 for the label of record 1 of ${path} but received 10`);
    });
  });

  it('rejects an unknown dataset name', async () => {
    await expect(loadCifar('/tmp', { dataset: 'cifar20' as never })).rejects.toThrow(
      /Expected cifar10\|cifar100 for dataset but received cifar20/,
    );
    await expect(loadCifar('/tmp', { dataset: 'toString' as never })).rejects.toThrow(/for dataset but received toString/);
  });
});

describe('loadCifar cifar100', () => {
  it('reads train.bin and test.bin with the fine labels', async () => {
    await withTmpDir(async (dir) => {
      await writeCifar100(dir);
      const data = await loadCifar(dir, { dataset: 'cifar100' });
      expect(data.name).toBe('CIFAR-100');
      expect(data.classes).toBe(100);
      expect(data.normalization).toEqual(CIFAR100_NORMALIZATION);
      expect(Array.from(data.train.labels)).toEqual([0, 1, 2, 3, 4].map(fine));
      expect(Array.from(data.test.labels)).toEqual([50, 51, 52, 53].map(fine));
      expectImages(data.train.images, 0, 5);
      expectImages(data.test.images, 50, 4);
    });
  });

  it('finds the files in cifar-100-binary', async () => {
    await withTmpDir(async (dir) => {
      await mkdir(join(dir, 'cifar-100-binary'));
      await writeCifar100(join(dir, 'cifar-100-binary'));
      expect((await loadCifar(dir, { dataset: 'cifar100' })).test.count).toBe(4);
    });
  });

  it('rejects CIFAR-10 records, which are one byte shorter', async () => {
    await withTmpDir(async (dir) => {
      await writeFile(join(dir, 'train.bin'), records(3, () => [1]));
      await writeFile(join(dir, 'test.bin'), records(1, () => [1, 1]));
      const error = await rejection(loadCifar(dir, { dataset: 'cifar100' }));
      expect(error.message).toContain('Expected a whole number of 3074-byte records (2 label bytes + 3072 pixel bytes each)');
      expect(error.message).toContain(`for ${join(dir, 'train.bin')} but received 9219 bytes (2 records and 3071 bytes over)`);
    });
  });

  it('names a missing test.bin', async () => {
    await withTmpDir(async (dir) => {
      await writeFile(join(dir, 'train.bin'), records(1, () => [0, 0]));
      const error = await rejection(loadCifar(dir, { dataset: 'cifar100' }));
      expect(error.message).toContain(`Expected test.bin in ${dir}`);
      expect(error.message).toContain('cifar-100-binary.tar.gz');
    });
  });

  it('checks the fine label against 100 classes', async () => {
    await withTmpDir(async (dir) => {
      await writeCifar100(dir);
      const path = join(dir, 'test.bin');
      await writeFile(path, records(3, (r) => [3, r === 2 ? 100 : 99]));
      const error = await rejection(loadCifar(dir, { dataset: 'cifar100' }));
      expect(error.message).toBe(`loadCifar: Expected a class in 0..99 for the fine label of record 2 of ${path} but received 100`);
    });
  });
});

describe('readCifarFiles', () => {
  it('reads any list of CIFAR-10-format files in order and names a missing one', async () => {
    await withTmpDir(async (dir) => {
      await writeFile(join(dir, 'a.bin'), records(2, (r) => [r], 0));
      await writeFile(join(dir, 'b.bin'), records(1, () => [9], 2));
      const set = await readCifarFiles([join(dir, 'a.bin'), join(dir, 'b.bin')], CIFAR10_RECORD);
      expect(Array.from(set.labels)).toEqual([0, 1, 9]);
      expectImages(set.images, 0, 3);
      const error = await rejection(readCifarFiles([join(dir, 'a.bin'), join(dir, 'c.bin')], CIFAR10_RECORD, 'loadDigits'));
      expect(error.message).toBe(`loadDigits: Expected a CIFAR-format file for ${join(dir, 'c.bin')} but received no such file`);
    });
  });
});
