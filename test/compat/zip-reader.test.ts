// The safe zip reader behind Judge0's additional_files: what it accepts, and every way an archive
// could escape /box or blow past the caps.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { checkEntryName, readZip, ZipError } from '../../services/api/compat/judge0/zip-reader.ts';
import { makeZip } from './zip-writer.ts';

const limits = { maxTotalBytes: 10_000, maxEntries: 5, maxNameChars: 255 };

describe('readZip', () => {
  it('reads stored and deflated files in nested directories, skipping directory entries', () => {
    const zip = makeZip([
      { name: 'src/', data: '' },
      { name: 'src/lib.py', data: 'X = 1\n' },
      { name: 'data.bin', data: Buffer.from([0, 1, 2, 255]), method: 0 },
    ]);
    const out = readZip(zip, limits);
    assert.deepEqual(out.map((e) => [e.path, e.data.toString('hex')]), [['src/lib.py', Buffer.from('X = 1\n').toString('hex')], ['data.bin', '000102ff']]);
  });

  it('reads an archive written by another zip implementation (Python zipfile, streamed: data descriptors)', () => {
    // Made with Python's zipfile on an unseekable stream: sizes only in the central directory.
    const zip = Buffer.from('UEsDBBQACAAIALWZfV0AAAAAAAAAAAAAAAAEAAAAZGlyLwMAUEsHCAAAAAACAAAAAAAAAFBLAwQUAAgACAC1mX1dAAAAAAAAAAAAAAAACQAAAGRpci9hLnR4dEvMKchI5EokiwQAUEsHCCv+g+4LAAAAPAAAAFBLAwQUAAgAAAAAACEAAAAAAAAAAAAAAAAABQAAAGIuYmluAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/1BLBwhzjAUpAAEAAAABAABQSwECFAMUAAgACAC1mX1dAAAAAAIAAAAAAAAABAAAAAAAAAAAABAA/UEAAAAAZGlyL1BLAQIUAxQACAAIALWZfV0r/oPuCwAAADwAAAAJAAAAAAAAAAAAAACAATQAAABkaXIvYS50eHRQSwECFAMUAAgAAAAAACEAc4wFKQABAAAAAQAABQAAAAAAAAAAAAAAgAF2AAAAYi5iaW5QSwUGAAAAAAMAAwCcAAAAqQEAAAAA', 'base64');
    const out = readZip(zip, limits);
    assert.deepEqual(out.map((e) => e.path), ['dir/a.txt', 'b.bin']);
    assert.equal(out[0].data.toString(), 'alpha\n'.repeat(10));
    assert.deepEqual([...out[1].data], Array.from({ length: 256 }, (_, i) => i));
  });

  it('reads an empty archive', () => {
    assert.deepEqual(readZip(makeZip([]), limits), []);
  });

  const refused: Array<[string, Buffer, RegExp]> = [
    ['garbage', Buffer.from('this is not a zip archive, not at all'), /no end-of-central-directory/],
    ['too short', Buffer.from('PK'), /too short/],
    ['parent traversal', makeZip([{ name: '../evil', data: 'x' }]), /"\.\." segment/],
    ['nested traversal', makeZip([{ name: 'a/../../evil', data: 'x' }]), /"\.\." segment/],
    ['absolute path', makeZip([{ name: '/etc/passwd', data: 'x' }]), /absolute/],
    ['backslash path', makeZip([{ name: '..\\evil', data: 'x' }]), /backslash/],
    ['drive letter', makeZip([{ name: 'C:x', data: 'x' }]), /drive letter/],
    ['empty segment', makeZip([{ name: 'a//b', data: 'x' }]), /empty/],
    ['NUL in name', makeZip([{ name: 'a\0b', data: 'x' }]), /NUL/],
    ['symlink', makeZip([{ name: 'link', data: '/etc/passwd', mode: 0o120777 }]), /symbolic link/],
    ['device/fifo', makeZip([{ name: 'fifo', data: '', mode: 0o10644 }]), /not a regular file/],
    ['encrypted', makeZip([{ name: 'a', data: 'x', flags: 1 }]), /encrypted/],
    ['unsupported method', makeZip([{ name: 'a', data: 'x', method: 12 }]), /compression method 12/],
    ['too many files', makeZip(Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, data: 'x' }))), /more than 5 files/],
    ['declared total over the cap', makeZip([{ name: 'big', data: Buffer.alloc(10_001) }]), /more than 10000 bytes/],
    ['bomb lying about its size', makeZip([{ name: 'bomb', data: Buffer.alloc(5_000_000), declaredSize: 100 }]), /more than its declared 100 bytes/],
    ['duplicate names', makeZip([{ name: 'a', data: '1' }, { name: 'a', data: '2' }]), /duplicate entry: a/],
    ['file that is also a directory', makeZip([{ name: 'a', data: '1' }, { name: 'a/b', data: '2' }]), /both a file and a directory/],
  ];
  for (const [name, zip, why] of refused) {
    it(`refuses ${name}`, () => assert.throws(() => readZip(zip, limits), (e: Error) => e instanceof ZipError && why.test(e.message)));
  }

  it('refuses data whose CRC does not match', () => {
    const zip = makeZip([{ name: 'a', data: 'hello', method: 0 }]);
    const at = zip.indexOf('hello');
    zip[at] = 'j'.charCodeAt(0);
    assert.throws(() => readZip(zip, limits), /fails its CRC check/);
  });

  it('stops a bomb at the total budget, not at the declared sizes', () => {
    const entries = Array.from({ length: 3 }, (_, i) => ({ name: `b${i}`, data: Buffer.alloc(4_000) }));
    assert.throws(() => readZip(makeZip(entries), limits), /more than 10000 bytes/);
  });
});

describe('checkEntryName', () => {
  for (const ok of ['a', 'a/b.c', 'dir/', '.hidden', 'a..b']) it(`accepts ${JSON.stringify(ok)}`, () => assert.equal(checkEntryName(ok, 255), ok));
  for (const bad of ['', '.', './a', 'a/./b', '..', 'x'.repeat(256)]) it(`refuses ${JSON.stringify(bad.slice(0, 20))}`, () => assert.throws(() => checkEntryName(bad, 255), ZipError));
});
