// The crash journal (static/netcall/journal.js) in Node, through an injected Platform: a page
// journals a real recording's chunks and dies; the next page of the same browser (same IndexedDB, the
// dead page's locks gone) recovers the file with its duration written, saves it the way it was meant
// to be (a download here), and drops the journal. A tab that still records keeps its journal.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { after, before, test } from 'node:test';

import { IDBFactory } from 'fake-indexeddb';

import { JournalWriter, journalTargets, recoverJournals } from '../../static/netcall/journal.js';
import { DownloadSink, MemorySink, TeeSink } from '../../static/netcall/sinks.js';
import { MemoryLocks, testPlatform } from './support/platform.js';
import { contentEnd, probe, recordings as recorded, tempDir } from './support/media.js';

/** @type {import('./support/media.js').Recording[]} */
let recordings = [];
/** @type {{path: string, remove: () => Promise<void>}} */
let dir;

before(async () => {
  recordings = await recorded();
  dir = await tempDir();
});

after(() => dir?.remove());

/**
 * A page that journals `recording` (all but its last chunk: it dies before the end) and does not save it.
 * @param {import('./support/platform.js').TestPlatform} platform
 * @param {import('./support/media.js').Recording} recording
 * @param {import('../../static/netcall/journal.js').JournalTarget[]} targets
 */
async function journalAndDie(platform, recording, targets) {
  const writer = await JournalWriter.open(platform, () => ({
    account: 'bob',
    kind: recording.video ? 'mp4' : 'aac',
    channelName: 'room',
    fileName: `bob-crash.${recording.container}`,
    mimeType: recording.mimeType,
    container: recording.container,
    targets,
    startedAt: 1_000,
  }));
  assert.ok(writer, 'no journal although IndexedDB is there');
  for (const chunk of recording.chunks.slice(0, -1)) writer.append(new Blob([chunk]));
  return writer;
}

for (const container of /** @type {const} */ (['webm', 'mp4'])) {
  test(`a ${container} recording of a page that died is recovered, with its duration, and downloaded`, async () => {
    const recording = recordings.find((r) => r.container === container && r.video);
    assert.ok(recording, `no ${container} video recording`);
    const browser = { indexedDB: new IDBFactory(), locks: new MemoryLocks() };
    const page = testPlatform(browser);
    const writer = await journalAndDie(page, recording, [{ type: 'download' }]);

    // Another tab of the same browser while the page still records: its journal is left alone.
    assert.deepEqual(await recoverJournals({ platform: testPlatform(browser) }), []);
    await writer.keep(); // the journal's writes have landed; then the page dies (its locks with it)

    const next = testPlatform({ indexedDB: browser.indexedDB });
    /** @type {import('../../static/netcall/journal.js').RecoveredRecording[]} */
    const announced = [];
    const results = await recoverJournals({ platform: next, onRecovered: (r) => announced.push(r) });
    assert.equal(results.length, 1);
    assert.deepEqual(announced, results);
    const [result] = results;
    assert.equal(result.fileName, `bob-crash.${container}`);
    assert.equal(result.saved, 'download');
    assert.equal(result.recovered, true);
    assert.equal(result.reason, 'recovered');
    assert.equal(result.channelName, 'room');
    assert.deepEqual(next.downloads.map((d) => d.fileName), [`bob-crash.${container}`]);

    const file = joinPath(dir.path, `recovered.${container}`);
    await writeFile(file, new Uint8Array(await result.blob.arrayBuffer()));
    const probed = (await probe([file]))[file];
    assert.ok(probed.ok, `PyAV cannot read the recovered file: ${probed.error}`);
    const end = contentEnd(probed);
    assert.ok(end > 1, `only ${end} s recovered`);
    assert.ok(Math.abs(/** @type {number} */ (probed.duration) - end) <= 0.05, `header ${probed.duration} s, media ${end} s`);
    assert.ok(Math.abs(/** @type {number} */ (result.duration) - end) <= 0.05, `result ${result.duration} s, media ${end} s`);

    // Recovered once: nothing is left for the page after.
    assert.deepEqual(await recoverJournals({ platform: testPlatform({ indexedDB: browser.indexedDB }) }), []);
  });
}

test("a recording saved with 'none' is recovered as a Blob only; nothing is downloaded", async () => {
  const recording = recordings.find((r) => r.container === 'webm' && !r.video) ?? recordings[0];
  const indexedDB = new IDBFactory();
  const writer = await journalAndDie(testPlatform({ indexedDB }), recording, [{ type: 'none' }]);
  await writer.keep();
  const next = testPlatform({ indexedDB });
  const [result] = await recoverJournals({ platform: next });
  assert.equal(result.saved, 'none');
  assert.equal(next.downloads.length, 0);
  assert.ok(result.blob.size > 0);
});

test('a journal dropped once the recording is saved leaves nothing to recover', async () => {
  const indexedDB = new IDBFactory();
  const writer = await journalAndDie(testPlatform({ indexedDB }), recordings[0], [{ type: 'download' }]);
  await writer.drop();
  assert.deepEqual(await recoverJournals({ platform: testPlatform({ indexedDB }) }), []);
});

test('without IndexedDB nothing is journalled, and recovery finds nothing', async () => {
  const platform = testPlatform({ indexedDB: null });
  const writer = await JournalWriter.open(platform, () => {
    throw new Error('never read');
  });
  assert.equal(writer, null);
  assert.deepEqual(await recoverJournals({ platform }), []);
});

test('what the journal stores of each save option', () => {
  const platform = testPlatform();
  const request = { fileName: 'a.webm', mimeType: 'video/webm', extension: '.webm', recording: { account: 'a', kind: 'mp4', channelName: 'c' } };
  const download = new DownloadSink(request, platform);
  const memory = new MemorySink(request);
  assert.deepEqual(journalTargets('download', download), [{ type: 'download' }]);
  assert.deepEqual(journalTargets('none', memory), [{ type: 'none' }]);
  assert.deepEqual(journalTargets(['none', 'download'], new TeeSink([memory, download])), [{ type: 'none' }, { type: 'download' }]);
  const custom = { kind: 'custom', write: async () => {}, patch: async () => {}, close: async () => ({ blob: new Blob(), saved: 'custom', fileName: 'a' }), abort: async () => {} };
  assert.deepEqual(journalTargets('mine', custom), [{ type: 'named', name: 'mine' }]);
  assert.deepEqual(journalTargets(custom, custom), [{ type: 'none' }]);
  assert.deepEqual(journalTargets('upload', { ...custom, kind: 'upload' }), []);
});
