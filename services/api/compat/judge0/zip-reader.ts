// A small, strict zip reader for Judge0's `additional_files` (a base64 zip unpacked into /box).
// It reads the central directory (the authoritative list), checks every entry before inflating
// anything, and inflates with node:zlib's inflateRaw under a total output budget, so a zip bomb
// stops at the budget and a hostile name never reaches the file system: names must be plain
// relative paths (no absolute path, no `..`/`.`/empty segment, no backslash, no NUL). Symlinks,
// encrypted entries, zip64 and methods other than stored/deflate are refused, not guessed at.
import { crc32, inflateRawSync } from 'node:zlib';

export interface ZipLimits {
  /** Most bytes all entries may unpack to together. */
  maxTotalBytes: number;
  /** Most file entries. */
  maxEntries: number;
  /** Longest entry name, characters. */
  maxNameChars: number;
}

export interface ZipEntry {
  path: string;
  data: Buffer;
}

export class ZipError extends Error {}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;

function findEndOfCentralDirectory(zip: Buffer): number {
  const min = Math.max(0, zip.length - (22 + 0xffff));
  for (let i = zip.length - 22; i >= min; i--) {
    if (zip.readUInt32LE(i) === EOCD_SIG) return i;
  }
  throw new ZipError('not a zip archive: no end-of-central-directory record');
}

/** Checks an entry name is a plain relative path and returns it. */
export function checkEntryName(name: string, maxNameChars: number): string {
  if (name.length === 0) throw new ZipError('an entry has an empty name');
  if (name.length > maxNameChars) throw new ZipError(`entry name longer than ${maxNameChars} characters: ${name.slice(0, 40)}…`);
  if (name.includes('\0')) throw new ZipError('an entry name contains NUL');
  if (name.includes('\\')) throw new ZipError(`entry name contains a backslash: ${name}`);
  if (name.startsWith('/')) throw new ZipError(`entry name is absolute: ${name}`);
  if (/^[A-Za-z]:/.test(name)) throw new ZipError(`entry name has a drive letter: ${name}`);
  const segments = name.replace(/\/$/, '').split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') throw new ZipError(`entry name has an empty, "." or ".." segment: ${name}`);
  }
  return name;
}

/** Reads every file entry of `zip` within `limits`; directories are implied by paths and skipped. */
export function readZip(zip: Buffer, limits: ZipLimits): ZipEntry[] {
  if (zip.length < 22) throw new ZipError('not a zip archive: too short');
  const eocd = findEndOfCentralDirectory(zip);
  const entryCount = zip.readUInt16LE(eocd + 10);
  const cdSize = zip.readUInt32LE(eocd + 12);
  const cdOffset = zip.readUInt32LE(eocd + 16);
  if (entryCount === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    throw new ZipError('zip64 archives are not supported');
  }
  if (zip.readUInt16LE(eocd + 4) !== 0 || zip.readUInt16LE(eocd + 6) !== 0) {
    throw new ZipError('multi-disk zip archives are not supported');
  }
  if (cdOffset + cdSize > eocd) throw new ZipError('central directory lies outside the archive');

  // Pass 1: read and check every header before inflating anything.
  interface Pending { path: string; method: number; crc: number; compressed: number; size: number; dataStart: number }
  const pending: Pending[] = [];
  const seen = new Set<string>();
  let declaredTotal = 0;
  let p = cdOffset;
  for (let n = 0; n < entryCount; n++) {
    if (p + 46 > eocd || zip.readUInt32LE(p) !== CEN_SIG) throw new ZipError(`central directory entry ${n} is corrupt`);
    const madeBy = zip.readUInt16LE(p + 4) >> 8;
    const flags = zip.readUInt16LE(p + 8);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressed = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const externalAttrs = zip.readUInt32LE(p + 38);
    const localOffset = zip.readUInt32LE(p + 42);
    if (p + 46 + nameLen > eocd) throw new ZipError(`central directory entry ${n} is corrupt`);
    const rawName = zip.subarray(p + 46, p + 46 + nameLen).toString((flags & 0x800) ? 'utf8' : 'latin1');
    p += 46 + nameLen + extraLen + commentLen;

    const isDir = rawName.endsWith('/');
    const name = checkEntryName(rawName, limits.maxNameChars);
    const unixMode = madeBy === 3 ? externalAttrs >>> 16 : 0;
    if ((unixMode & S_IFMT) === S_IFLNK) throw new ZipError(`entry is a symbolic link: ${name}`);
    if (isDir) continue;
    if (unixMode !== 0 && (unixMode & S_IFMT) !== 0 && (unixMode & S_IFMT) !== S_IFREG) {
      throw new ZipError(`entry is not a regular file: ${name}`);
    }
    if (flags & 0x1) throw new ZipError(`entry is encrypted: ${name}`);
    if (method !== 0 && method !== 8) throw new ZipError(`entry uses compression method ${method} (only stored and deflate are supported): ${name}`);
    if (compressed === 0xffffffff || size === 0xffffffff) throw new ZipError('zip64 archives are not supported');
    if (seen.has(name)) throw new ZipError(`duplicate entry: ${name}`);
    seen.add(name);
    if (pending.length + 1 > limits.maxEntries) throw new ZipError(`more than ${limits.maxEntries} files`);
    declaredTotal += size;
    if (declaredTotal > limits.maxTotalBytes) throw new ZipError(`files unpack to more than ${limits.maxTotalBytes} bytes`);

    if (localOffset + 30 > cdOffset || zip.readUInt32LE(localOffset) !== LOC_SIG) {
      throw new ZipError(`local header of ${name} is missing or corrupt`);
    }
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    if (dataStart + compressed > cdOffset) throw new ZipError(`data of ${name} lies outside the archive`);
    pending.push({ path: name, method, crc, compressed, size, dataStart });
  }
  for (const dirOrFile of seen) {
    // A file may not also be a directory of another entry ("a" and "a/b").
    const parts = dirOrFile.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (seen.has(parts.slice(0, i).join('/'))) throw new ZipError(`entry ${parts.slice(0, i).join('/')} is both a file and a directory`);
    }
  }

  // Pass 2: inflate under the remaining budget; sizes and CRCs must match the directory.
  let budget = limits.maxTotalBytes;
  const out: ZipEntry[] = [];
  for (const e of pending) {
    const raw = zip.subarray(e.dataStart, e.dataStart + e.compressed);
    let data: Buffer;
    if (e.method === 0) {
      data = Buffer.from(raw);
    } else {
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, Math.min(budget, e.size) + 1) });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_BUFFER_TOO_LARGE') throw new ZipError(`${e.path} inflates to more than its declared ${e.size} bytes`);
        throw new ZipError(`${e.path} cannot be inflated: ${(err as Error).message}`);
      }
    }
    if (data.length !== e.size) throw new ZipError(`${e.path} unpacks to ${data.length} bytes, not the declared ${e.size}`);
    if (crc32(data) >>> 0 !== e.crc) throw new ZipError(`${e.path} fails its CRC check`);
    budget -= data.length;
    out.push({ path: e.path, data });
  }
  return out;
}
