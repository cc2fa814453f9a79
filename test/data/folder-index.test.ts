// The folder index: ImageNet layout, classes sorted, extensions in any case, symlinks followed, clear errors, a cache rebuilt on change.
import { mkdir, mkdtemp, readFile, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { INDEX_CACHE_NAME, indexFolder } from '../../lib/data/folder-index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-node-index-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Files with the given (root-relative) paths; the index reads names only, so the bytes need not be images. */
async function tree(paths: string[]): Promise<void> {
  for (const path of paths) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), 'x');
  }
}

describe('indexFolder', () => {
  it('takes sorted class folders of train/, images of every extension in any case, nested and symlinked ones too', async () => {
    await tree([
      'train/zebra/1.jpg',
      'train/cat/a.JPG',
      'train/cat/b.jpeg',
      'train/cat/c.Png',
      'train/cat/d.PPM',
      'train/cat/e.bmp',
      'train/cat/f.WebP',
      'train/cat/notes.txt',
      'train/cat/.hidden.jpg',
      'train/cat/deeper/g.jpg',
      'train/.DS_Store',
      'train/README.md',
      'train/.cache/x.jpg',
      'val/cat/v.jpg',
      'elsewhere/dog/1.png',
      'elsewhere/dog/2.png',
      'elsewhere/pictures/3.jpg',
    ]);
    await symlink(join(dir, 'elsewhere/dog'), join(dir, 'train/dog')); // a linked class folder
    await symlink(join(dir, 'elsewhere/pictures/3.jpg'), join(dir, 'train/zebra/linked.jpg')); // a linked image
    await symlink(join(dir, 'train/cat'), join(dir, 'train/cat/deeper/loop')); // a cycle, visited once
    const index = await indexFolder(dir);
    expect(index.classes).toEqual(['cat', 'dog', 'zebra']);
    expect(index.train.dir).toBe(join(dir, 'train'));
    expect(index.train.files).toEqual([
      'cat/a.JPG', 'cat/b.jpeg', 'cat/c.Png', 'cat/d.PPM', 'cat/deeper/g.jpg', 'cat/e.bmp', 'cat/f.WebP',
      'dog/1.png', 'dog/2.png',
      'zebra/1.jpg', 'zebra/linked.jpg',
    ]);
    expect(Array.from(index.train.labels)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2]);
    expect(index.val.files).toEqual(['cat/v.jpg']);
    expect(Array.from(index.val.labels)).toEqual([0]);
  });

  it('names the folder when train/ or val/ is missing, a class folder is empty, or val/ has a class train/ lacks', async () => {
    await expect(indexFolder(join(dir, 'nowhere'))).rejects.toThrow(/Expected a folder .* for the dataset root but received .*nowhere, which does not exist/);
    await tree(['val/cat/1.jpg']);
    await expect(indexFolder(dir)).rejects.toThrow(new RegExp(`for the training split but received ${join(dir, 'train')}, which does not exist`));
    await tree(['train/cat/1.jpg', 'train/dog/notes.txt']);
    await rm(join(dir, 'val'), { recursive: true });
    await expect(indexFolder(dir)).rejects.toThrow(new RegExp(`for the validation split but received ${join(dir, 'val')}, which does not exist`));
    await tree(['val/cat/1.jpg']);
    await expect(indexFolder(dir)).rejects.toThrow(new RegExp(`Expected images \\(jpg, jpeg, png, ppm, bmp, webp, any letter case\\) for the class folder ${join(dir, 'train', 'dog')} but received none`));
    await tree(['train/dog/1.jpg', 'val/fox/1.jpg']);
    await expect(indexFolder(dir)).rejects.toThrow(new RegExp(`Expected every class folder of ${join(dir, 'val')} to be a class of ${join(dir, 'train')} but received ${join(dir, 'val', 'fox')}, missing from train/`));
    await rm(join(dir, 'val', 'fox'), { recursive: true });
    await tree(['val/dog/.keep']);
    await expect(indexFolder(dir)).rejects.toThrow(/for the class folder .*val\/dog but received none/);
  });

  it('writes a cache, reuses it while nothing changes, and rebuilds it when a file or class is added or removed', async () => {
    await tree(['train/a/1.jpg', 'train/b/1.jpg', 'val/a/1.jpg']);
    const first = await indexFolder(dir);
    expect(first.cache).toBe('written');
    const cached = JSON.parse(await readFile(join(dir, INDEX_CACHE_NAME), 'utf8'));
    expect(cached.classes).toEqual(['a', 'b']);
    const again = await indexFolder(dir);
    expect(again.cache).toBe('hit');
    expect(again.train.files).toEqual(first.train.files);
    expect(Array.from(again.train.labels)).toEqual(Array.from(first.train.labels));

    // Changes right after indexing fall in the same timestamp tick, so this also checks the recount of recent folders.
    await tree(['train/a/2.jpg']);
    const added = await indexFolder(dir);
    expect(added.cache).toBe('written');
    expect(added.train.files).toEqual(['a/1.jpg', 'a/2.jpg', 'b/1.jpg']);
    await unlink(join(dir, 'train/b/1.jpg'));
    await tree(['train/b/2.jpg', 'train/c/1.jpg']);
    const changed = await indexFolder(dir);
    expect(changed.classes).toEqual(['a', 'b', 'c']);
    expect(changed.train.files).toEqual(['a/1.jpg', 'a/2.jpg', 'b/2.jpg', 'c/1.jpg']);
    expect((await indexFolder(dir)).cache).toBe('hit');
  });

  it('recounts folders changed within a timestamp tick of indexing, where the mtime alone cannot tell', async () => {
    await tree(['train/a/1.jpg', 'val/a/1.jpg']);
    const second = Math.floor(Date.now() / 1000) - 1; // whole seconds: utimes restores them exactly
    await utimes(join(dir, 'train/a'), second, second);
    expect((await indexFolder(dir)).cache).toBe('written');
    await tree(['train/a/2.jpg']);
    await utimes(join(dir, 'train/a'), second, second); // as if the file came within the same tick
    const index = await indexFolder(dir);
    expect(index.cache).toBe('written');
    expect(index.train.files).toEqual(['a/1.jpg', 'a/2.jpg']);
  });

  it('can keep the cache elsewhere, or none, and still works when the cache cannot be written', async () => {
    await tree(['train/a/1.jpg', 'val/a/1.jpg']);
    const elsewhere = join(dir, 'index.json');
    expect((await indexFolder(dir, { cache: elsewhere })).cache).toBe('written');
    expect((await indexFolder(dir, { cache: elsewhere })).cache).toBe('hit');
    expect((await indexFolder(dir, { cache: false })).cache).toBe('disabled');
    const unwritable = await indexFolder(dir, { cache: join(dir, 'no', 'such', 'folder', 'index.json') });
    expect(unwritable.cache).toBe('unwritable');
    expect(unwritable.train.files).toEqual(['a/1.jpg']);
    await writeFile(elsewhere, '{"format": "something else"}');
    expect((await indexFolder(dir, { cache: elsewhere })).cache).toBe('written');
  });
});
