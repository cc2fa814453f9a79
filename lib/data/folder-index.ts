// The image list of an ImageNet-layout folder (train/<class>/…, val/<class>/…), kept in a cache file that is rebuilt when a folder changes.
import type { Dirent, Stats } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

import { writeJsonAtomic } from '../io/atomic.js';
import { ResnetError, expected } from '../runtime/errors.js';

/** File extensions taken as images, compared in lower case (fb.resnet.torch's list, plus webp). */
export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'ppm', 'bmp', 'webp'] as const;
/** The cache file written at the dataset root unless told otherwise. */
export const INDEX_CACHE_NAME = '.resnet-node-index.json';
const FORMAT = 'resnet-node-image-index-1';
/**
 * A folder changed less than this long before the index was built may have changed again within the same
 * timestamp tick (coarse file-system clocks: up to 2 s on FAT); such folders are recounted on every check.
 */
const RACY_NS = 3_000_000_000n;

export interface FolderSplit {
  /** The split's folder (root/train or root/val). */
  dir: string;
  /** Image paths relative to `dir`, '/'-separated, grouped by class and sorted within each. */
  files: string[];
  labels: Int32Array; // (files)
}

export interface FolderIndex {
  root: string;
  /** Sorted class-folder names of train/: label i is classes[i]. */
  classes: string[];
  train: FolderSplit;
  val: FolderSplit;
  /** hit: read from the cache; written: scanned and cached; unwritable: scanned, the cache could not be written; disabled: scanned, no cache. */
  cache: 'hit' | 'written' | 'unwritable' | 'disabled';
}

export interface IndexOptions {
  /** Cache file path, or false for none; default <root>/.resnet-node-index.json. */
  cache?: string | false;
}

/** A folder as scanned: enough to tell cheaply whether it has changed. */
type DirStamp = [path: string, mtimeNs: string, entries: number];

interface CacheFile {
  format: string;
  extensions: readonly string[];
  builtAtNs: string;
  dirs: DirStamp[];
  classes: string[];
  /** Per split, per class, the files relative to the class folder. */
  train: string[][];
  val: string[][];
}

const OP = 'folderData';

function isImageName(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && (IMAGE_EXTENSIONS as readonly string[]).includes(name.slice(dot + 1).toLowerCase());
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(path); // follows symlinks
  } catch {
    return null;
  }
}

/** Non-dot entries of a folder, sorted. */
async function listDir(dir: string): Promise<Dirent[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => !e.name.startsWith('.')).sort((a, b) => byCodeUnit(a.name, b.name));
}

interface Scan {
  dirs: DirStamp[];
  root: string;
}

/** The images under `dir` (recursively, symlinks followed, each real folder once), relative to `dir`. */
async function scanClass(dir: string, scan: Scan, seen: Set<string>): Promise<string[]> {
  const files: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    const real = await realpath(folder);
    if (seen.has(real)) return; // a symlink cycle, or a folder linked twice
    seen.add(real);
    const info = await stat(folder, { bigint: true });
    const entries = await listDir(folder);
    scan.dirs.push([relative(scan.root, folder).split(sep).join('/'), info.mtimeNs.toString(), entries.length]);
    for (const entry of entries) {
      const path = join(folder, entry.name);
      const isLink = entry.isSymbolicLink();
      const target = isLink ? await statOrNull(path) : null;
      if (entry.isDirectory() || target?.isDirectory()) await walk(path);
      else if ((entry.isFile() || target?.isFile()) && isImageName(entry.name)) files.push(relative(dir, path).split(sep).join('/'));
    }
  };
  await walk(dir);
  return files.sort(byCodeUnit);
}

async function classFolders(splitDir: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await listDir(splitDir)) {
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await statOrNull(join(splitDir, entry.name)))?.isDirectory())) names.push(entry.name);
  }
  return names;
}

async function requireDir(path: string, what: string): Promise<void> {
  const info = await statOrNull(path);
  if (!info?.isDirectory()) {
    throw expected('RN_INVALID_ARGUMENT', OP, what, 'a folder (ImageNet layout: train/<class>/<image> and val/<class>/<image>)', `${path}, which ${info ? 'is not a folder' : 'does not exist'}`);
  }
}

async function scanFolder(root: string): Promise<CacheFile> {
  // Taken before the scan: a folder changing during it looks recent, so it is recounted next time.
  const builtAtNs = BigInt(Date.now()) * 1_000_000n;
  const trainDir = join(root, 'train');
  const valDir = join(root, 'val');
  await requireDir(root, 'the dataset root');
  await requireDir(trainDir, 'the training split');
  await requireDir(valDir, 'the validation split');
  const scan: Scan = { dirs: [], root };
  const classes = await classFolders(trainDir);
  if (classes.length === 0) throw expected('RN_INVALID_ARGUMENT', OP, `the training split ${trainDir}`, 'one folder per class', 'no class folders');
  const valClasses = await classFolders(valDir);
  if (valClasses.length === 0) throw expected('RN_INVALID_ARGUMENT', OP, `the validation split ${valDir}`, 'one folder per class (those of train/)', 'no class folders');
  const unknown = valClasses.filter((name) => !classes.includes(name));
  if (unknown.length > 0) {
    throw new ResnetError(
      'RN_INVALID_ARGUMENT',
      `Expected every class folder of ${valDir} to be a class of ${trainDir} but received ${unknown.map((n) => join(valDir, n)).join(', ')}, missing from train/`,
      OP,
    );
  }
  for (const splitDir of [trainDir, valDir]) {
    const info = await stat(splitDir, { bigint: true });
    scan.dirs.push([relative(root, splitDir), info.mtimeNs.toString(), (await listDir(splitDir)).length]);
  }
  const files = { train: [] as string[][], val: [] as string[][] };
  for (const split of ['train', 'val'] as const) {
    const splitDir = join(root, split);
    const present = split === 'train' ? classes : valClasses;
    for (const name of classes) {
      if (!present.includes(name)) {
        files[split].push([]);
        continue;
      }
      const classDir = join(splitDir, name);
      const found = await scanClass(classDir, scan, new Set());
      if (found.length === 0) {
        throw expected('RN_INVALID_ARGUMENT', OP, `the class folder ${classDir}`, `images (${IMAGE_EXTENSIONS.join(', ')}, any letter case)`, 'none; add some or remove the folder');
      }
      files[split].push(found);
    }
  }
  return { format: FORMAT, extensions: IMAGE_EXTENSIONS, builtAtNs: builtAtNs.toString(), dirs: scan.dirs, classes, ...files };
}

/** Whether every folder the cache saw is unchanged: same mtime, and for recently changed ones, the same entry count. */
async function cacheIsCurrent(root: string, cache: CacheFile): Promise<boolean> {
  const builtAt = BigInt(cache.builtAtNs);
  for (const [path, mtimeNs, entries] of cache.dirs) {
    const dir = join(root, path);
    const info = await stat(dir, { bigint: true }).catch(() => null);
    if (!info?.isDirectory() || info.mtimeNs.toString() !== mtimeNs) return false;
    if (info.mtimeNs >= builtAt - RACY_NS && (await listDir(dir).catch(() => [])).length !== entries) return false;
  }
  return true;
}

async function readCache(path: string, root: string): Promise<CacheFile | null> {
  try {
    const cache = JSON.parse(await readFile(path, 'utf8')) as CacheFile;
    const valid =
      cache.format === FORMAT &&
      JSON.stringify(cache.extensions) === JSON.stringify(IMAGE_EXTENSIONS) &&
      Array.isArray(cache.dirs) &&
      Array.isArray(cache.classes) &&
      cache.train?.length === cache.classes.length &&
      cache.val?.length === cache.classes.length;
    return valid && (await cacheIsCurrent(root, cache)) ? cache : null;
  } catch {
    return null; // missing, unreadable or not ours: scan again
  }
}

function toSplit(dir: string, classes: string[], perClass: string[][]): FolderSplit {
  const files: string[] = [];
  const labels: number[] = [];
  perClass.forEach((names, label) => {
    for (const name of names) {
      files.push(`${classes[label]}/${name}`);
      labels.push(label);
    }
  });
  return { dir, files, labels: Int32Array.from(labels) };
}

/**
 * Lists the images of an ImageNet-layout folder: classes are the sorted folder names of train/ (dot entries
 * ignored, symlinks followed), label i the i-th; an image's class is the class folder it sits in, at any
 * depth. A missing train/ or val/, a class folder without images, or a val/ class absent from train/ is an
 * error naming the folder. The list is cached (written atomically) and reused while no folder has changed.
 */
export async function indexFolder(root: string, options: IndexOptions = {}): Promise<FolderIndex> {
  const cachePath = options.cache === undefined ? join(root, INDEX_CACHE_NAME) : options.cache;
  let cache = cachePath ? await readCache(cachePath, root) : null;
  let state: FolderIndex['cache'] = cachePath ? 'hit' : 'disabled';
  if (!cache) {
    cache = await scanFolder(root);
    if (cachePath) {
      state = await writeJsonAtomic(cachePath, cache).then(
        () => 'written' as const,
        () => 'unwritable' as const,
      );
    }
  }
  return {
    root,
    classes: cache.classes,
    train: toSplit(join(root, 'train'), cache.classes, cache.train),
    val: toSplit(join(root, 'val'), cache.classes, cache.val),
    cache: state,
  };
}
