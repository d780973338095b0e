// Nothing lost when the tab closes: every chunk MediaRecorder hands out is also written to a journal
// in IndexedDB (as a Blob, which the browser keeps on disk, so page memory stays flat) until the
// recording is saved; then the journal is dropped. A page that dies mid-recording (closed, crashed,
// reloaded) leaves its journal behind, and the next page of the same origin replays it:
//
//   recording ──chunk──> sink (download | file | memory | ...)      the file, as usual
//             └─chunk──> JournalWriter ──> IndexedDB 'netcall-journal'
//   next page: recoverJournals() ──> container fixer (duration, cues) ──> a sink like the original
//
// Each running recording holds a Web Lock named after its journal, so recovery in another tab never
// takes a recording that still runs. `save: 'upload'` keeps its own store (upload.js) and resumes by
// itself; it is not journalled here.

import { ClientErrorCode, NetcallError } from './errors.js';
import { Mp4Fixer } from './mp4-fix.js';
import { holdLock, keysOf, openDatabase, transaction, withLock } from './platform.js';
import { DownloadSink, FileSink, MemorySink, TeeSink, openSink } from './sinks.js';
import { WebmFixer } from './webm-fix.js';

const DB_NAME = 'netcall-journal';
const DB_VERSION = 1;
/** A journal that failed to replay this many times is dropped. */
const MAX_ATTEMPTS = 3;
/** Recovery holds back this many bytes before writing, so a cut at the end stays in memory. */
const HOLD_BACK_BYTES = 8 * 1024 * 1024;

/**
 * Where a recovered recording goes: what the original sink was, in a form IndexedDB can store.
 * @typedef {{type: 'download'} | {type: 'none'} | {type: 'file', handle: FileSystemFileHandle} | {type: 'named', name: string}} JournalTarget
 */

/**
 * @typedef {object} JournalRecord
 * @property {string} id
 * @property {string} account whom (for the mix: the recorder's own account)
 * @property {'mp4'|'aac'} kind
 * @property {string | null} channelName
 * @property {string} fileName
 * @property {string} mimeType
 * @property {'mp4'|'webm'|'ogg'} container
 * @property {JournalTarget[]} targets
 * @property {number} startedAt
 * @property {number} [pausedMs] ms paused (pauseRecordMp4 / pauseRecordAac) before the last chunk
 * @property {boolean} [paused] whether it was paused when last written (a crash while paused)
 * @property {number} updatedAt
 * @property {number} size bytes journalled
 * @property {number} chunks
 * @property {number} attempts failed recoveries so far
 */

/** @typedef {Omit<JournalRecord, 'id' | 'updatedAt' | 'size' | 'chunks' | 'attempts'>} JournalMeta */
/** @typedef {import('./platform.js').Platform} Platform */

/**
 * A streaming container fixer (stream-fixer.js): `cutIncomplete` ends a cut recording on whole media.
 * @typedef {{push: (b: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>[], finish: (s: number | null) => import('./stream-fixer.js').FinishResult,
 *   cutIncomplete?: () => number}} Fixer
 */

/**
 * The streaming fixer for a container (duration and index, see webm-fix.js and mp4-fix.js).
 * @param {string} container
 * @returns {Fixer}
 */
export function containerFixer(container) {
  if (container === 'webm') return new WebmFixer();
  if (container === 'mp4') return new Mp4Fixer();
  return { push: (bytes) => [bytes], finish: (seconds) => ({ tail: [], patches: [], duration: seconds, fixed: false }) };
}

// --- IndexedDB --------------------------------------------------------------------------------------

/**
 * @param {Platform} platform
 * @returns {Promise<IDBDatabase | null>} null where IndexedDB is unavailable (nothing is journalled)
 */
function database(platform) {
  return openDatabase(platform, DB_NAME, DB_VERSION, (db) => {
    db.createObjectStore('recordings', { keyPath: 'id' });
    db.createObjectStore('chunks', { keyPath: ['id', 'seq'] });
  });
}

/**
 * @param {IDBDatabase} db
 * @param {string} id
 */
function deleteJournal(db, id) {
  return transaction(db, ['recordings', 'chunks'], 'readwrite', (tx) => {
    tx.objectStore('chunks').delete(keysOf(id));
    tx.objectStore('recordings').delete(id);
  });
}

/** @param {string} id @returns {string} the name of the Web Lock a running recording holds on its journal */
const lockName = (id) => `netcall-journal:${id}`;

/** @returns {string} */
function newId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// --- writing ----------------------------------------------------------------------------------------

/**
 * What to store of a recording's save option, from the sink it opened: a FileSink's handle, 'download',
 * 'none', or a registered sink's name. Uploads are left out (upload.js persists them itself); a sink
 * object the page passed cannot be stored and is recovered as 'none' (the result and the event).
 * @param {unknown} save the recording's `save` option
 * @param {import('./sinks.js').Sink} sink what openSink() made of it
 * @returns {JournalTarget[]}
 */
export function journalTargets(save, sink) {
  if (sink instanceof TeeSink) {
    const saves = Array.isArray(save) ? save : [];
    return sink.sinks.flatMap((s, i) => journalTargets(saves[i], s));
  }
  if (sink.kind === 'upload') return [];
  if (sink instanceof FileSink) return [{ type: 'file', handle: sink.handle }];
  if (sink instanceof DownloadSink) return [{ type: 'download' }];
  if (sink instanceof MemorySink) return [{ type: 'none' }];
  if (typeof save === 'string') return [{ type: 'named', name: save }];
  return [{ type: 'none' }];
}

/** Journals one recording's chunks while it runs; dropped once the file is saved. */
export class JournalWriter {
  #db;
  #id = newId();
  /** @type {() => JournalMeta} */
  #meta;
  #seq = 0;
  #size = 0;
  /** @type {Promise<void>} writes, in order */
  #queue = Promise.resolve();
  #failed = false;
  /** @type {() => void} */
  #unlock = () => {};

  /**
   * @param {IDBDatabase} db
   * @param {() => JournalMeta} meta read at every write (the format is final by the first chunk)
   */
  constructor(db, meta) {
    this.#db = db;
    this.#meta = meta;
  }

  /**
   * A journal for a recording about to start (holding its lock), or null without IndexedDB.
   * @param {Platform} platform
   * @param {() => JournalMeta} meta
   * @returns {Promise<JournalWriter | null>}
   */
  static async open(platform, meta) {
    const db = await database(platform);
    if (!db) return null;
    const writer = new JournalWriter(db, meta);
    writer.#unlock = await holdLock(platform, lockName(writer.#id));
    return writer;
  }

  /** @returns {string} */
  get id() {
    return this.#id;
  }

  /**
   * Keep a chunk (as it came from MediaRecorder: a Blob the browser stores on disk).
   * @param {Blob} data
   */
  append(data) {
    this.#write(data);
  }

  /** The recording's state changed (paused, resumed): write its record again, without a chunk. */
  touch() {
    if (this.#seq > 0) this.#write(null);
  }

  /** @param {Blob | null} data the next chunk, or null to rewrite the record only */
  #write(data) {
    if (this.#failed) return;
    const seq = data ? this.#seq++ : this.#seq - 1;
    this.#size += data?.size ?? 0;
    const size = this.#size;
    this.#queue = this.#queue
      .then(() => {
        if (this.#failed) return;
        /** @type {JournalRecord} */
        const record = { ...this.#meta(), id: this.#id, updatedAt: Date.now(), size, chunks: seq + 1, attempts: 0 };
        return transaction(this.#db, ['recordings', 'chunks'], 'readwrite', (tx) => {
          if (data) tx.objectStore('chunks').put({ id: this.#id, seq, data, at: record.updatedAt });
          tx.objectStore('recordings').put(record);
        }).then(() => {});
      })
      .catch((err) => {
        // Quota, or the database went away: stop journalling (a journal with a hole is worthless).
        this.#failed = true;
        console.warn('netcall: the recording can no longer be journalled; a crash now would lose it', err);
        void deleteJournal(this.#db, this.#id).catch(() => {});
      });
  }

  /** The recording is saved: forget the journal. */
  async drop() {
    await this.#queue;
    await deleteJournal(this.#db, this.#id).catch((err) => console.warn('netcall: journal not removed', err));
    this.#unlock();
  }

  /** The recording could not be saved: leave the journal for the next page load to recover. */
  async keep() {
    await this.#queue;
    this.#unlock();
  }
}

// --- recovery ---------------------------------------------------------------------------------------

/**
 * @typedef {object} RecoveredRecording the payload of 'recordRecovered' (a RecordResult, plus `recovered`)
 * @property {string} account
 * @property {'mp4'|'aac'} kind
 * @property {Blob} blob
 * @property {string} fileName
 * @property {string} mimeType
 * @property {number} size
 * @property {number | null} duration seconds, as now written in the file's header
 * @property {number} startedAt
 * @property {number} stoppedAt when the last journalled chunk was written
 * @property {string} saved how it was saved now: 'download' | 'file' | 'none' | a registered sink's kind
 * @property {'recovered'} reason
 * @property {true} recovered
 * @property {number} pausedSeconds how long it had been paused
 * @property {boolean} paused whether the page died while the recording was paused
 * @property {string | null} channelName
 */

/**
 * Recover every journal no running page holds: replay it through the container fixer into a sink
 * like the recording's own, where that works without a user gesture (a download; a file handle this
 * page may still write; 'none': the Blob only; 'picker' without permission: a download), then drop it.
 * @param {{platform: Platform, onRecovered?: (result: RecoveredRecording) => void}} options
 * @returns {Promise<RecoveredRecording[]>}
 */
export async function recoverJournals({ platform, onRecovered = () => {} }) {
  const db = await database(platform);
  if (!db) return [];
  /** @type {JournalRecord[]} */
  const records = (await transaction(db, ['recordings'], 'readonly', (tx) => tx.objectStore('recordings').getAll())) ?? [];
  /** @type {RecoveredRecording[]} */
  const results = [];
  for (const record of records.sort((a, b) => a.startedAt - b.startedAt)) {
    const recover = () => recoverOne(db, record, { platform });
    const result = await withLock(platform, lockName(record.id), { ifAvailable: true }, recover).catch(async (err) => {
      const attempts = (record.attempts ?? 0) + 1;
      console.warn(`netcall: recovering ${record.fileName} failed (attempt ${attempts})`, err);
      if (attempts >= MAX_ATTEMPTS) await deleteJournal(db, record.id).catch(() => {});
      else await transaction(db, ['recordings'], 'readwrite', (tx) => tx.objectStore('recordings').put({ ...record, attempts }));
      return null;
    });
    if (!result) continue;
    results.push(result);
    onRecovered(result);
  }
  return results;
}

/**
 * @param {IDBDatabase} db
 * @param {JournalRecord} record
 * @param {import('./sinks.js').SinkContext} context
 * @returns {Promise<RecoveredRecording | null>}
 */
async function recoverOne(db, record, context) {
  // Read again under the lock: another tab may have recovered it meanwhile.
  const current = await transaction(db, ['recordings'], 'readonly', (tx) => tx.objectStore('recordings').get(record.id));
  if (!current) return null;
  /** @type {{seq: number, data: Blob, at: number}[]} */
  const chunks = (await transaction(db, ['chunks'], 'readonly', (tx) => tx.objectStore('chunks').getAll(keysOf(record.id)))) ?? [];
  if (chunks.length === 0) {
    await deleteJournal(db, record.id);
    return null;
  }
  chunks.sort((a, b) => a.seq - b.seq);
  const request = {
    fileName: record.fileName,
    mimeType: record.mimeType,
    extension: record.fileName.slice(record.fileName.lastIndexOf('.')),
    recording: { account: record.account, kind: record.kind, channelName: record.channelName },
  };
  const sink = await recoverySink(record.targets, request, context);
  try {
    const fixer = containerFixer(record.container);
    /** @type {Uint8Array<ArrayBuffer>[]} output not yet written: the end may still be cut */
    let held = [];
    let heldBytes = 0;
    let written = 0;
    for (const chunk of chunks) {
      for (const part of fixer.push(new Uint8Array(await chunk.data.arrayBuffer()))) {
        held.push(part);
        heldBytes += part.length;
        while (held.length > 1 && heldBytes - held[0].length >= HOLD_BACK_BYTES) {
          const first = /** @type {Uint8Array<ArrayBuffer>} */ (held.shift());
          heldBytes -= first.length;
          await sink.write(first);
          written += first.length;
        }
      }
    }
    // The page died mid-element: end the file on a whole one.
    const end = Math.max(fixer.cutIncomplete?.() ?? written + heldBytes, written);
    for (const part of held) {
      const n = Math.min(part.length, end - written);
      if (n <= 0) break;
      await sink.write(n === part.length ? part : part.subarray(0, n));
      written += n;
    }
    held = [];
    const stoppedAt = chunks[chunks.length - 1].at;
    const pausedMs = record.pausedMs ?? 0;
    const { tail, patches, duration } = fixer.finish((stoppedAt - record.startedAt - pausedMs) / 1000);
    for (const part of tail) await sink.write(part);
    for (const { position, data } of patches) await sink.patch(position, data);
    const saved = await sink.close();
    await deleteJournal(db, record.id);
    return {
      account: record.account,
      kind: record.kind,
      blob: saved.blob,
      fileName: saved.fileName,
      mimeType: record.mimeType,
      size: saved.blob.size,
      duration,
      startedAt: record.startedAt,
      stoppedAt,
      saved: saved.saved,
      ...(saved.extra ?? {}),
      reason: 'recovered',
      recovered: true,
      pausedSeconds: pausedMs / 1000,
      paused: Boolean(record.paused),
      channelName: record.channelName,
    };
  } catch (err) {
    await sink.abort().catch(() => {});
    throw err instanceof NetcallError
      ? err
      : new NetcallError(ClientErrorCode.SAVE_FAILED, `the recording could not be recovered: ${err}`, { cause: err });
  }
}

/**
 * A sink like the recording's own, as far as one can be opened without a user gesture.
 * @param {JournalTarget[]} targets
 * @param {import('./sinks.js').SinkRequest} request
 * @param {import('./sinks.js').SinkContext} context
 * @returns {Promise<import('./sinks.js').Sink>}
 */
async function recoverySink(targets, request, context) {
  /** @type {import('./sinks.js').Sink[]} */
  const sinks = [];
  for (const target of targets.length ? targets : [{ type: /** @type {const} */ ('none') }]) {
    sinks.push(await recoveryTarget(target, request, context));
  }
  return sinks.length === 1 ? sinks[0] : new TeeSink(sinks);
}

/**
 * @param {JournalTarget} target
 * @param {import('./sinks.js').SinkRequest} request
 * @param {import('./sinks.js').SinkContext} context
 * @returns {Promise<import('./sinks.js').Sink>}
 */
async function recoveryTarget(target, request, context) {
  switch (target.type) {
    case 'file': {
      // A file this origin may still write (e.g. the origin-private file system): into it. A file the
      // user picked in an earlier page needs a new permission, which needs a gesture: download instead.
      const handle = /** @type {any} */ (target.handle);
      const state = await handle?.queryPermission?.({ mode: 'readwrite' }).catch(() => 'denied');
      if (state === 'granted') {
        try {
          return await new FileSink(handle, { ...request, fileName: handle.name || request.fileName }).open();
        } catch (err) {
          console.info('netcall: the recording\'s file cannot be written; downloading it instead', err);
        }
      }
      return new DownloadSink(request, context.platform);
    }
    case 'named':
      try {
        return await openSink(target.name, request, context);
      } catch (err) {
        console.info(`netcall: no '${target.name}' sink on this page; the recovered recording is only returned`, err);
        return new MemorySink(request);
      }
    case 'download':
      return new DownloadSink(request, context.platform);
    default:
      return new MemorySink(request);
  }
}
