// The upload client (static/netcall/upload.js) against a tus server in this process: the send loop
// must deliver every byte exactly once, in order, through dropped connections, 409 (offset
// mismatch), 423 (locked) and server errors, resuming from the offset HEAD reports; and what a dead
// page left in IndexedDB must be completed by the next page (resumePendingUploads).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, test } from 'node:test';

import { TusUpload, UploadSink, resumePendingUploads } from '../../static/netcall/upload.js';
import { join, randomBytes, seededRandom } from './support/bytes.js';
import { MemoryLocks, testPlatform } from './support/platform.js';
import { FakeTusServer } from './support/tus-server.js';

/** No waiting between attempts: the tests wait on what happens, never on the clock. */
const RETRY_NOW = [0];

/** @type {FakeTusServer} */
let server;

before(async () => {
  server = await new FakeTusServer().start();
});

after(() => server.stop());

afterEach(() => {
  assert.equal(server.faultsLeft, 0, 'a queued fault was never met: the test did not exercise it');
});

/** @param {string} name @returns {import('../../static/netcall/sinks.js').SinkRequest} */
function request(name) {
  return {
    fileName: `${name}.webm`,
    mimeType: 'video/webm;codecs=vp8,opus',
    extension: '.webm',
    recording: { account: 'alice', kind: 'mp4', channelName: 'room' },
  };
}

/**
 * Open an upload sink on the fake server.
 * @param {string} name
 * @param {import('./support/platform.js').TestPlatform} [platform]
 */
async function openSink(name, platform = testPlatform()) {
  /** @type {import('../../static/netcall/upload.js').UploadProgress[]} */
  const events = [];
  const sink = await UploadSink.open(request(name), {
    platform,
    token: 'token-alice',
    endpoint: server.endpoint,
    retryDelays: RETRY_NOW,
    emit: (_name, payload) => events.push(payload),
  });
  return { sink, events, platform };
}

/** @param {number} seed @param {number} count @param {number} size @returns {Uint8Array[]} */
function chunks(seed, count, size) {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => randomBytes(random, Math.floor(size * (0.5 + random()))));
}

/** @param {Uint8Array} bytes */
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * Write every chunk, close, and check what the server holds: every byte once, in order, with our sha256.
 * The recorder hands out a chunk a second, so each is sent by itself: the next is written once the
 * server holds the one before (a condition, not a clock), and each queued fault meets its own PATCH.
 * @param {UploadSink} sink
 * @param {Uint8Array[]} parts
 */
async function uploadAll(sink, parts) {
  let written = 0;
  for (const part of parts) {
    await sink.write(part);
    written += part.length;
    await waitFor(() => server.bytes(sink.uploadUrl).length >= written);
  }
  const result = await sink.close();
  const all = join(parts);
  const stored = server.bytes(sink.uploadUrl);
  assert.equal(stored.length, all.length, 'the server holds another number of bytes');
  assert.ok(stored.equals(Buffer.from(all)), 'the server holds other bytes');
  assert.equal(result.extra?.sha256, sha256(all));
  assert.equal(Buffer.from(await result.blob.arrayBuffer()).equals(Buffer.from(all)), true, 'the result is not the uploaded bytes');
  return result;
}

test('a clean upload: every byte once, the length declared with the last PATCH, metadata and ids', async () => {
  const { sink, events } = await openSink('clean');
  const parts = chunks(1, 6, 40_000);
  const result = await uploadAll(sink, parts);
  const upload = [...server.uploads.values()].find((u) => sink.uploadUrl.endsWith(u.id));
  assert.ok(upload);
  assert.deepEqual(upload.metadata, { filename: 'clean.webm', filetype: 'video/webm;codecs=vp8,opus', kind: 'participant', target: 'alice' });
  assert.equal(upload.length, join(parts).length);
  assert.equal(upload.partial, false);
  assert.equal(upload.token, 'token-alice');
  assert.equal(result.extra?.recordingId, `rec-${upload.id}`);
  assert.equal(events.at(-1)?.state, 'complete');
  assert.ok(events.every((e) => e.state === 'uploading' || e.state === 'complete'), 'no retry should have happened');
  const patches = server.log.filter((e) => e.method === 'PATCH' && sink.uploadUrl.endsWith(`/${upload.id}`));
  assert.ok(patches.length >= 1);
});

test('dropped connections: before the request is read, and after the bytes were stored unheard', async () => {
  const { sink, events } = await openSink('drops');
  server.fail('PATCH', 'drop', 'drop-after-write', 'drop');
  await uploadAll(sink, chunks(2, 8, 30_000));
  assert.ok(events.filter((e) => e.state === 'retrying').length >= 3, 'each drop is a retry');
  assert.equal(events.at(-1)?.state, 'complete');
});

test('409 offset mismatch and 423 locked: the client asks HEAD where the server stands and goes on from there', async () => {
  const { sink, events } = await openSink('conflicts');
  server.fail('PATCH', 409, 423, 'drop-after-write', 409, 423);
  await uploadAll(sink, chunks(3, 8, 25_000));
  const heads = server.log.filter((e) => e.method === 'HEAD').length;
  assert.ok(heads >= 5, `every failed PATCH is followed by a HEAD (saw ${heads})`);
  assert.ok(events.some((e) => e.state === 'retrying'));
});

test('a server that kept part of a body: the client resumes mid-chunk from the offset HEAD reports', async () => {
  const { sink } = await openSink('half');
  server.fail('PATCH', 'keep-half-then-drop', 'keep-half-then-drop');
  await uploadAll(sink, chunks(4, 5, 50_000));
  const offsets = server.log.filter((e) => e.method === 'PATCH' && e.status === 204).map((e) => e.offset ?? 0);
  assert.ok(offsets.some((o, i) => i > 0 && o !== offsets[i - 1]), 'resumed at new offsets');
});

test('server errors and a failing HEAD: retried until the upload completes', async () => {
  const { sink, events } = await openSink('errors');
  server.fail('PATCH', 500, 500, 'drop');
  server.fail('HEAD', 500, 'drop');
  await uploadAll(sink, chunks(5, 4, 20_000));
  assert.equal(events.at(-1)?.state, 'complete');
});

test('the upload is gone (404): the sink fails with save_failed, and says the bytes are kept', async () => {
  const { sink, events } = await openSink('gone');
  server.fail('PATCH', 404);
  await sink.write(randomBytes(seededRandom(6), 1000));
  await assert.rejects(sink.close(), (err) => {
    assert.equal(/** @type {any} */ (err).code, 'save_failed');
    assert.match(/** @type {Error} */ (err).message, /not_found|no such upload|404/u);
    return true;
  });
  assert.equal(events.at(-1)?.state, 'failed');
});

test('creating an upload the server refuses: save_failed with the reason', async () => {
  server.fail('POST', 500);
  await assert.rejects(openSink('refused'), (err) => {
    assert.equal(/** @type {any} */ (err).code, 'save_failed');
    assert.match(/** @type {Error} */ (err).message, /something broke/u);
    return true;
  });
});

test('TusUpload: HEAD reads the offset and length; errors carry the server code and status', async () => {
  const { upload, state } = await TusUpload.create(server.endpoint, 'token-bob', { filename: 'x.webm' });
  assert.equal(state.offset, 0);
  assert.equal(state.length, null);
  const patched = await upload.patch(0, Uint8Array.of(1, 2, 3), { length: 3 });
  assert.equal(patched.offset, 3);
  assert.equal(patched.length, 3);
  assert.match(String(patched.sha256), /^[0-9a-f]{64}$/u);
  const head = await upload.head();
  assert.equal(head.offset, 3);
  await assert.rejects(upload.patch(1, Uint8Array.of(9)), (err) => {
    const e = /** @type {any} */ (err);
    assert.equal(e.code, 'offset_mismatch');
    assert.equal(e.status, 409);
    assert.equal(e.fatal, false);
    return true;
  });
});

test('a page that died mid-upload: the next page finishes it from IndexedDB, resuming from HEAD', async () => {
  const indexedDB = new (await import('fake-indexeddb')).IDBFactory();
  const dead = testPlatform({ indexedDB });
  const { sink } = await openSink('reload', dead);
  const parts = chunks(7, 6, 30_000);
  // The server takes the first chunks; then the network goes away (a PATCH hangs) and the page dies.
  for (const part of parts.slice(0, 2)) {
    await sink.write(part);
    await waitFor(() => server.bytes(sink.uploadUrl).length >= part.length);
  }
  const sent = parts[0].length + parts[1].length;
  await waitFor(() => server.bytes(sink.uploadUrl).length === sent);
  server.fail('PATCH', 'hold');
  for (const part of parts.slice(2)) await sink.write(part);
  await waitFor(() => server.holding === 1);
  await sink.abort(); // what a dead page does: nothing more is sent, the bytes stay in IndexedDB
  server.dropHeld();
  assert.equal(server.bytes(sink.uploadUrl).length, sent);

  /** @type {import('../../static/netcall/upload.js').UploadProgress[]} */
  const events = [];
  const next = testPlatform({ indexedDB, locks: new MemoryLocks() }); // the dead page's locks died with it
  const results = await resumePendingUploads({ platform: next, token: 'token-alice', emit: (_n, p) => events.push(p), retryDelays: RETRY_NOW });
  assert.deepEqual(results.map((r) => r.state), ['complete']);
  const all = join(parts);
  assert.ok(server.bytes(sink.uploadUrl).equals(Buffer.from(all)), `the server holds other bytes: ${server.bytes(sink.uploadUrl).length} of ${all.length} ${JSON.stringify(server.log.slice(-8))}`);
  const upload = [...server.uploads.values()].find((u) => sink.uploadUrl.endsWith(`/${u.id}`));
  assert.equal(upload?.partial, true, 'a recording that never stopped is marked partial');
  assert.deepEqual([events[0]?.state, events.at(-1)?.state], ['recovering', 'recovered']);
  // Nothing left for a third page.
  assert.deepEqual(await resumePendingUploads({ platform: next, token: 'token-alice', retryDelays: RETRY_NOW }), []);
});

test('an upload another tab still drives is left alone', async () => {
  const browser = { indexedDB: new (await import('fake-indexeddb')).IDBFactory(), locks: new MemoryLocks() };
  const { sink } = await openSink('busy', testPlatform(browser));
  await sink.write(randomBytes(seededRandom(8), 5000));
  assert.deepEqual(await resumePendingUploads({ platform: testPlatform(browser), token: 'token-alice', retryDelays: RETRY_NOW }), []);
  await sink.close();
});

/**
 * Wait until `condition()` holds (polling the event loop, no fixed sleep), at most `ms`.
 * @param {() => boolean} condition
 * @param {number} [ms]
 */
async function waitFor(condition, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
