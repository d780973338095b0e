// save: 'folder' (issue 16, point 3): the seed's `path: 'E:/calls/2026/test.mp4'` lands at
// calls/2026/test.mp4 inside the recordings folder, never outside it, never over another file.
// The pure path rules (save-path.js), then the folder sink (folder.js + sinks.js) on a fake directory
// handle that behaves like the File System Access API's (NotFoundError, TypeMismatchError, writables).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { folderRecordPath, numberedName } from '../../static/netcall/save-path.js';
import { setRecordFolder } from '../../static/netcall/folder.js';
import { openSink } from '../../static/netcall/sinks.js';

test('folderRecordPath keeps the relative part: drive letters and absolute parts dropped, names cleaned', () => {
  const cases = [
    ['E:/calls/2026/test.mp4', ['calls', '2026'], 'test.mp4'],
    ['E:\\calls\\2026\\test.mp4', ['calls', '2026'], 'test.mp4'],
    ['/var/rec/a.webm', ['var', 'rec'], 'a.mp4'],
    ['C:evil.mp4', [], 'evil.mp4'],
    ['./x/./y.mp4', ['x'], 'y.mp4'],
    ['calls//2026/', ['calls', '2026'], 'fallback.mp4'],
    ['a<b>/c|d?/e*f.mp4', ['a_b_', 'c_d_'], 'e_f.mp4'],
    [' .hidden. /x.mp4', ['hidden'], 'x.mp4'],
    ['ab:c/z.mp4', ['ab_c'], 'z.mp4'],
    ['', [], 'fallback.mp4'],
    [undefined, [], 'fallback.mp4'],
  ];
  for (const [path, dirs, fileName] of cases) {
    assert.deepEqual(folderRecordPath(path, 'fallback', '.mp4'), { dirs, fileName }, String(path));
  }
});

test("folderRecordPath refuses '..' anywhere, and absurdly deep paths", () => {
  for (const path of ['../x.mp4', 'E:/calls/../../x.mp4', 'a\\..\\b.mp4', 'a/ .. /b.mp4', '..']) {
    assert.throws(() => folderRecordPath(path, 'f', '.mp4'), (err) => err.code === 'bad_argument', path);
  }
  assert.throws(() => folderRecordPath(`${'d/'.repeat(17)}x.mp4`, 'f', '.mp4'), (err) => err.code === 'bad_argument');
  assert.deepEqual(folderRecordPath('a..b/c...mp4', 'f', '.mp4'), { dirs: ['a..b'], fileName: 'c.mp4' });
});

test('numberedName counts up before the extension', () => {
  assert.equal(numberedName('test.mp4', 0), 'test.mp4');
  assert.equal(numberedName('test.mp4', 1), 'test (1).mp4');
  assert.equal(numberedName('a.b.m4a', 12), 'a.b (12).m4a');
  assert.equal(numberedName('noext', 2), 'noext (2)');
});

// --- a fake directory handle --------------------------------------------------------------------

/** @param {string} name */
function domError(name) {
  const err = new Error(name);
  err.name = name;
  return err;
}

class FakeFile {
  kind = 'file';
  /** @param {string} name */
  constructor(name) {
    this.name = name;
    this.data = new Uint8Array(0);
    this.writes = 0;
  }

  async createWritable() {
    let data = new Uint8Array(0);
    const file = this;
    return {
      async write({ position, data: bytes }) {
        const end = position + bytes.length;
        if (end > data.length) {
          const grown = new Uint8Array(end);
          grown.set(data);
          data = grown;
        }
        data.set(bytes, position);
        file.writes += 1;
      },
      async close() {
        file.data = data;
      },
      async abort() {},
    };
  }

  async getFile() {
    return new Blob([this.data]);
  }
}

class FakeDir {
  kind = 'directory';
  /** @param {string} name */
  constructor(name) {
    this.name = name;
    /** @type {Map<string, FakeDir | FakeFile>} */
    this.entries = new Map();
  }

  async getDirectoryHandle(name, { create = false } = {}) {
    return this.#entry(FakeDir, name, create);
  }

  async getFileHandle(name, { create = false } = {}) {
    return this.#entry(FakeFile, name, create);
  }

  /**
   * The entry `name` of this kind, made when `create` says so, as the File System Access API answers.
   * @template {FakeDir | FakeFile} T
   * @param {new (name: string) => T} Kind
   * @param {string} name
   * @param {boolean} create
   * @returns {T}
   */
  #entry(Kind, name, create) {
    const entry = this.entries.get(name);
    if (entry instanceof Kind) return entry;
    if (entry) throw domError('TypeMismatchError');
    if (!create) throw domError('NotFoundError');
    const made = new Kind(name);
    this.entries.set(name, made);
    return made;
  }

  /** @param {string} path @returns {FakeDir | FakeFile | undefined} */
  at(path) {
    /** @type {any} */
    let node = this;
    for (const part of path.split('/')) node = node?.entries?.get(part);
    return node;
  }
}

function platform() {
  const downloads = [];
  return { indexedDB: null, locks: null, download: (blob, name) => downloads.push(name), playDetached: () => () => {}, downloads };
}

/** @param {any} p @param {string} path @param {string} fileName */
async function record(p, path, fileName, bytes, events = []) {
  const request = {
    fileName,
    mimeType: 'video/mp4',
    extension: '.mp4',
    recording: { account: 'alice', kind: 'mp4', channelName: 'c' },
    folderPath: folderRecordPath(path, 'x', '.mp4'),
  };
  const sink = await openSink('folder', request, { platform: p, emit: (name, payload) => events.push({ name, payload }) });
  for (let i = 0; i < bytes.length; i += 4) await sink.write(bytes.subarray(i, i + 4));
  await sink.patch(0, new Uint8Array([9]));
  return { sink, result: await sink.close() };
}

test("save: 'folder' writes each recording at its relative path, streamed, never over another", async () => {
  const p = platform();
  const root = new FakeDir('recordings');
  root.entries.set('calls', new FakeDir('calls'));
  await setRecordFolder(p, /** @type {any} */ (root));
  const bytes = new Uint8Array(64).map((_, i) => i);
  const first = await record(p, 'E:/calls/2026/test.mp4', 'test.mp4', bytes);
  const second = await record(p, 'E:\\calls\\2026\\test.mp4', 'test.mp4', bytes);
  const third = await record(p, 'D:/calls/2026/test (1).mp4', 'test (1).mp4', bytes);
  assert.deepEqual(
    [first, second, third].map(({ result }) => [result.saved, result.fileName, result.extra.path]),
    [
      ['folder', 'test.mp4', 'calls/2026/test.mp4'],
      ['folder', 'test (1).mp4', 'calls/2026/test (1).mp4'],
      ['folder', 'test (1) (1).mp4', 'calls/2026/test (1) (1).mp4'],
    ],
  );
  for (const { result } of [first, second, third]) {
    const file = /** @type {FakeFile} */ (root.at(result.extra.path));
    assert.equal(file.writes, bytes.length / 4 + 1, 'streamed: one write per chunk, then the patch');
    assert.deepEqual([...file.data.subarray(0, 3)], [9, 1, 2]);
    assert.equal(file.data.length, bytes.length);
  }
  assert.deepEqual(p.downloads, []);
});

test("a name taken by a folder is skipped; a folder that cannot be written falls back to a download, and says so", async () => {
  const p = platform();
  const root = new FakeDir('recordings');
  await root.getDirectoryHandle('x.mp4', { create: true });
  await setRecordFolder(p, /** @type {any} */ (root));
  const { result } = await record(p, 'x.mp4', 'x.mp4', new Uint8Array(8));
  assert.equal(result.extra.path, 'x (1).mp4');

  const locked = new FakeDir('locked');
  /** @type {any} */ (locked).queryPermission = async () => 'prompt';
  /** @type {any} */ (locked).requestPermission = async () => {
    throw domError('SecurityError'); // no user gesture
  };
  await setRecordFolder(p, /** @type {any} */ (locked));
  const events = [];
  const fallback = await record(p, 'calls/y.mp4', 'y.mp4', new Uint8Array(8), events);
  assert.equal(fallback.result.saved, 'download');
  assert.deepEqual(p.downloads, ['y.mp4']);
  assert.deepEqual(
    events.map((e) => [e.name, e.payload.reason, e.payload.saved]),
    [['recordSaveFallback', 'permission', 'download']],
  );
  assert.equal(locked.entries.size, 0);
});
