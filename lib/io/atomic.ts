// Atomic file writes: a temp file beside the target, fsync, rename over the target, fsync the directory.
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { expected } from '../runtime/errors.js';

/** Whole contents, or chunks written in order (a generator may produce them lazily, and may throw). */
export type FileData =
  | string
  | Uint8Array
  | Iterable<string | Uint8Array>
  | AsyncIterable<string | Uint8Array>;

const OP = 'writeFileAtomic';

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return typeof value;
}

function isChunks(data: unknown): data is Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array> {
  return typeof data === 'object' && data !== null && (Symbol.iterator in data || Symbol.asyncIterator in data);
}

async function writeAll(handle: FileHandle, chunk: string | Uint8Array): Promise<void> {
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
  // write() may stop short of the end; carry on from where it stopped.
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

/** Flushes the rename itself to disk. Where directories cannot be opened or synced (Windows, some filesystems), the rename stands unflushed. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EACCES'].includes(code ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}

/** Turns the system errors a caller can fix (missing folder, target is a folder) into errors that name the target. */
function explain(error: unknown, path: string, dir: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return expected('RN_INVALID_ARGUMENT', OP, `the folder of ${path}`, 'an existing directory', `${dir}, which does not exist`);
  }
  if (code === 'EISDIR') {
    return expected('RN_INVALID_ARGUMENT', OP, 'the path', 'a file path', `${path}, which is a directory`);
  }
  return error;
}

/**
 * Replaces `path` with `data` all at once: readers see the old file or the new one, never a mix, and a
 * crash or a failed write (including an exception thrown by a chunk generator) leaves the old file as it
 * was. The temp file sits in the same directory, so the rename never crosses filesystems; its name holds
 * the pid and a random suffix, so concurrent writers never share one. The new file gets the default
 * permissions, not the old file's.
 */
export async function writeFileAtomic(path: string, data: FileData): Promise<void> {
  if (typeof path !== 'string' || path === '') {
    throw expected('RN_INVALID_ARGUMENT', OP, 'path', 'a non-empty string', describeValue(path));
  }
  if (typeof data !== 'string' && !(data instanceof Uint8Array) && !isChunks(data)) {
    throw expected('RN_INVALID_ARGUMENT', OP, `the data for ${path}`, 'a string, a Uint8Array or an iterable of them', describeValue(data));
  }
  const target = resolve(path);
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    // Exclusive create: never adopt someone else's file.
    handle = await open(temp, 'wx').catch((error: unknown) => {
      throw explain(error, path, dir);
    });
    const chunks = typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
    let index = 0;
    for await (const chunk of chunks) {
      if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
        throw expected('RN_INVALID_ARGUMENT', OP, `chunk ${index} of the data for ${path}`, 'a string or a Uint8Array', describeValue(chunk));
      }
      await writeAll(handle, chunk);
      index++;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, target).catch((error: unknown) => {
      throw explain(error, path, dir);
    });
  } catch (error) {
    await handle?.close().catch(() => undefined); // the original error matters more than a failed close
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** Writes `value` as indented JSON with a final newline, atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (error) {
    throw expected('RN_INVALID_ARGUMENT', 'writeJsonAtomic', `the value for ${path}`, 'a JSON-serialisable value', (error as Error).message);
  }
  if (text === undefined) {
    throw expected('RN_INVALID_ARGUMENT', 'writeJsonAtomic', `the value for ${path}`, 'a JSON-serialisable value', describeValue(value));
  }
  await writeFileAtomic(path, `${text}\n`);
}
