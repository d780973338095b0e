// save: 'upload' — the recording goes to the server while it runs, over tus 1.0.0 (/api/uploads/).
//
//   recorder ──write(chunk)──> UploadSink ──> IndexedDB (until the server acknowledges the bytes)
//                                   └── pump: PATCH chunk by chunk (sha1 per PATCH), resumes by itself
//                                       after a network drop (HEAD for the server's offset)
//   next page load ──> resumePendingUploads(): what a dead tab left unfinished is completed
//
// A small tus client written for this SDK: tus-js-client is not published as native ES modules,
// and this SDK has no build step. It speaks core + creation-defer-length + checksum + termination
// and works against any tus 1.0.0 server that has those.
//
// The server's file is exactly the bytes the recorder produced. The in-place header corrections at
// the end (duration, see webm-fix.js) cannot be sent over an append-only protocol: the server makes a
// seekable copy with duration instead, and the Blob this sink resolves with is the uploaded bytes,
// byte for byte, so its sha256 matches the server's.

import { ClientErrorCode, NetcallError } from './errors.js';
import { NetcallEvent } from './events.js';
import { holdLock, keysOf, openDatabase, transaction, withLock } from './platform.js';
import { Sha256 } from './sha256.js';

/** @typedef {import('./platform.js').Platform} Platform */

export const UPLOAD_ENDPOINT = '/api/uploads/';
export const UPLOAD_PROGRESS = NetcallEvent.UPLOAD_PROGRESS;
/** The largest PATCH body (bytes): chunks are batched up to this when the upload lags behind. */
const MAX_PATCH_BYTES = 4 * 1024 * 1024;
const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 5000];
const DB_NAME = 'netcall-uploads';
const DB_VERSION = 1;
const TUS_VERSION = '1.0.0';

/**
 * @typedef {object} UploadProgress the payload of an 'uploadProgress' event
 * @property {string} account whom the recording is of (for a mix: yours)
 * @property {string} kind 'mp4' | 'aac'
 * @property {string} uploadUrl
 * @property {string | null} recordingId
 * @property {number} sent bytes the server has acknowledged
 * @property {number} size bytes recorded so far
 * @property {boolean} final whether `size` is the final size (recording stopped)
 * @property {'uploading'|'retrying'|'complete'|'failed'|'recovering'|'recovered'} state
 */

// --- tus --------------------------------------------------------------------------------------------

/** A tus request the server refused, or a server answer the client cannot go on from. */
class TusError extends NetcallError {
  /**
   * @param {string} code the server's error code (its JSON body), or `http_<status>` where it sent none
   * @param {string} message
   * @param {{status: number, fatal: boolean}} details `status`: the HTTP status (0: not an HTTP
   *   answer); `fatal`: retrying cannot help
   */
  constructor(code, message, { status, fatal }) {
    super(code, message);
    this.name = 'TusError';
    this.status = status;
    this.fatal = fatal;
  }
}

/** @param {string} value @returns {string} base64 of the UTF-8 bytes */
function b64(value) {
  let binary = '';
  for (const byte of new TextEncoder().encode(value)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** @param {Uint8Array<ArrayBuffer>} bytes @returns {Promise<string | null>} `sha1 <base64>`, or null without WebCrypto */
async function sha1Header(bytes) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest('SHA-1', bytes));
  let binary = '';
  for (const byte of digest) binary += String.fromCharCode(byte);
  return `sha1 ${btoa(binary)}`;
}

/**
 * The error of a refused request, from the JSON body every HTTP API of the server answers with
 * (`{"error": {"code", "message"}}`), or from the status where there is none.
 * @param {Response} response
 * @param {string} what prefixes the message, e.g. 'PATCH 409'
 * @param {boolean} fatal
 * @returns {Promise<TusError>}
 */
async function refusal(response, what, fatal) {
  const text = await response.text().catch(() => '');
  let code = `http_${response.status}`;
  let message = text.slice(0, 200) || response.statusText;
  try {
    const error = JSON.parse(text).error;
    if (typeof error.message === 'string') message = error.message;
    if (typeof error.code === 'string') code = error.code;
  } catch {
    // not JSON: the text (or the status line) says it
  }
  return new TusError(code, `${what}: ${message}`, { status: response.status, fatal });
}

/**
 * @typedef {object} TusState
 * @property {number} offset
 * @property {number | null} length
 * @property {string | null} recordingId
 * @property {string | null} sha256 set once the upload is complete
 * @property {string | null} url the signed download link, once complete
 * @property {string | null} status the recording's status
 */

/** @param {Response} response @returns {TusState} */
function stateOf(response) {
  const h = response.headers;
  const length = h.get('Upload-Length');
  return {
    offset: Number(h.get('Upload-Offset') ?? 'NaN'),
    length: length === null ? null : Number(length),
    recordingId: h.get('Netcall-Recording-Id'),
    sha256: h.get('Netcall-Recording-Sha256'),
    url: h.get('Netcall-Recording-Url'),
    status: h.get('Netcall-Recording-Status'),
  };
}

/** One tus upload, addressed by its URL. */
export class TusUpload {
  /** @param {string} url @param {string} token */
  constructor(url, token) {
    this.url = url;
    this.token = token;
  }

  /** @returns {Record<string, string>} */
  #headers() {
    return { 'Tus-Resumable': TUS_VERSION, Authorization: `Bearer ${this.token}` };
  }

  /**
   * Create an upload whose length is not known yet.
   * @param {string} endpoint
   * @param {string} token
   * @param {Record<string, string>} metadata
   * @returns {Promise<{upload: TusUpload, state: TusState}>}
   */
  static async create(endpoint, token, metadata) {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'Tus-Resumable': TUS_VERSION,
        Authorization: `Bearer ${token}`,
        'Upload-Defer-Length': '1',
        'Upload-Metadata': Object.entries(metadata)
          .map(([k, v]) => `${k} ${b64(v)}`)
          .join(','),
      },
    });
    const location = response.headers.get('Location');
    if (response.status !== 201 || !location) {
      throw await refusal(response, 'the upload could not be created', true);
    }
    const base = new URL(endpoint, globalThis.location?.href);
    return { upload: new TusUpload(new URL(location, base).href, token), state: stateOf(response) };
  }

  /** @returns {Promise<TusState>} */
  async head() {
    const response = await fetch(this.url, { method: 'HEAD', headers: this.#headers(), cache: 'no-store' });
    if (response.ok) return stateOf(response);
    const fatal = [401, 403, 404, 410].includes(response.status);
    throw new TusError(`http_${response.status}`, `HEAD ${response.status}`, { status: response.status, fatal });
  }

  /**
   * @param {number} offset
   * @param {Uint8Array<ArrayBuffer>} bytes
   * @param {{length?: number, partial?: boolean}} [options] `length`: declare the final length
   * @returns {Promise<TusState>}
   */
  async patch(offset, bytes, { length, partial } = {}) {
    /** @type {Record<string, string>} */
    const headers = {
      ...this.#headers(),
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': String(offset),
    };
    if (length !== undefined) headers['Upload-Length'] = String(length);
    if (partial) headers['Netcall-Partial'] = '1';
    const checksum = bytes.length ? await sha1Header(bytes) : null;
    if (checksum) headers['Upload-Checksum'] = checksum;
    const response = await fetch(this.url, { method: 'PATCH', headers, body: bytes });
    if (response.status === 204) return stateOf(response);
    // 409 (offset moved), 423 (another request writes), 460 (corrupted on the way), 5xx: retry.
    const fatal = [400, 401, 403, 404, 410, 413, 415].includes(response.status);
    throw await refusal(response, `PATCH ${response.status}`, fatal);
  }

  async terminate() {
    await fetch(this.url, { method: 'DELETE', headers: this.#headers() }).catch(() => {});
  }
}

// --- IndexedDB: bytes not yet acknowledged, so a dead tab loses nothing it recorded ------------------

/**
 * @typedef {object} UploadRecord
 * @property {string} url
 * @property {string} token
 * @property {string} account
 * @property {string} kind
 * @property {string} fileName
 * @property {number} written bytes stored so far
 * @property {boolean} stopped whether the recording stopped cleanly (the final length is `written`)
 * @property {number} createdAt
 */

/** The bytes of uploads this browser has not finished, in IndexedDB 'netcall-uploads'. */
class UploadStore {
  /** @type {Promise<IDBDatabase | null>} */
  #db;

  /** @param {Platform} platform */
  constructor(platform) {
    this.#db = openDatabase(platform, DB_NAME, DB_VERSION, (db) => {
      db.createObjectStore('uploads', { keyPath: 'url' });
      db.createObjectStore('chunks', { keyPath: ['url', 'offset'] });
    });
  }

  /** @param {UploadRecord} record */
  async put(record) {
    const db = await this.#db;
    if (db) await transaction(db, ['uploads'], 'readwrite', (tx) => tx.objectStore('uploads').put(record));
  }

  /** @param {UploadRecord} record @param {number} offset @param {Blob} data */
  async addChunk(record, offset, data) {
    const db = await this.#db;
    if (!db) return;
    await transaction(db, ['uploads', 'chunks'], 'readwrite', (tx) => {
      tx.objectStore('chunks').put({ url: record.url, offset, data });
      tx.objectStore('uploads').put(record);
    });
  }

  /** Forget chunks that end at or before `acked`. @param {string} url @param {number} acked */
  async dropAcknowledged(url, acked) {
    const db = await this.#db;
    if (!db) return;
    await transaction(db, ['chunks'], 'readwrite', (tx) => {
      const cursorRequest = tx.objectStore('chunks').openCursor(keysOf(url, acked));
      cursorRequest.onsuccess = () => {
        const cursor = cursorRequest.result;
        if (!cursor) return;
        if (cursor.value.offset + cursor.value.data.size <= acked) cursor.delete();
        cursor.continue();
      };
    });
  }

  /** @param {string} url */
  async remove(url) {
    const db = await this.#db;
    if (!db) return;
    await transaction(db, ['uploads', 'chunks'], 'readwrite', (tx) => {
      tx.objectStore('uploads').delete(url);
      tx.objectStore('chunks').delete(keysOf(url));
    });
  }

  /** @returns {Promise<UploadRecord[]>} */
  async records() {
    const db = await this.#db;
    if (!db) return [];
    return (await transaction(db, ['uploads'], 'readonly', (tx) => tx.objectStore('uploads').getAll())) ?? [];
  }

  /** @param {string} url @returns {Promise<{offset: number, data: Blob}[]>} in offset order */
  async chunks(url) {
    const db = await this.#db;
    if (!db) return [];
    return (await transaction(db, ['chunks'], 'readonly', (tx) => tx.objectStore('chunks').getAll(keysOf(url)))) ?? [];
  }
}

/** @type {WeakMap<Platform, UploadStore>} */
const stores = new WeakMap();

/** @param {Platform} platform @returns {UploadStore} the platform's store, opened on first use */
function uploadStore(platform) {
  let store = stores.get(platform);
  if (!store) stores.set(platform, (store = new UploadStore(platform)));
  return store;
}

/** @param {string} url @returns {string} the Web Lock of an upload: two tabs never drive one */
const lockName = (url) => `netcall-upload:${url}`;

/** @param {number} ms */
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the pump: sends stored bytes in order, resumes after failures ------------------------------------

class Pump {
  /** @type {{offset: number, data: Blob}[]} bytes not yet acknowledged, in order */
  pending = [];
  acked = 0;
  /** @type {number | null} the final length, once known */
  finalLength = null;
  partial = false;
  /** @type {TusState | null} */
  completed = null;
  /** @type {Error | null} */
  failure = null;
  failures = 0;
  /** @type {(() => void) | null} wakes the idle loop */
  #wake = null;
  #running = false;
  /** @type {{resolve: (s: TusState) => void, reject: (e: Error) => void}[]} */
  #waiters = [];
  #store;
  #retryDelays;

  /**
   * @param {TusUpload} tus
   * @param {(state: UploadProgress['state'], tus: TusState | null) => void} progress
   * @param {{store: UploadStore, retryDelays?: number[]}} options `store`: forgets what the server
   *   acknowledged; `retryDelays`: ms to wait before each attempt after a failure (the last repeats)
   */
  constructor(tus, progress, { store, retryDelays = RETRY_DELAYS_MS }) {
    this.tus = tus;
    this.progress = progress;
    this.#store = store;
    this.#retryDelays = retryDelays;
  }

  /** Queue bytes (in order) and make sure the pump runs. @param {number} offset @param {Blob} data */
  push(offset, data) {
    this.pending.push({ offset, data });
    this.kick();
  }

  kick() {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
    if (!this.#running) {
      this.#running = true;
      void this.#run().finally(() => {
        this.#running = false;
      });
    }
  }

  /** @param {Error} error stop for good */
  fail(error) {
    this.failure = error;
    this.kick();
  }

  /** @returns {Promise<TusState>} once the server has every byte and the final length */
  finish() {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#settle();
      this.kick();
    });
  }

  #settle() {
    if (!this.completed && !this.failure) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const { resolve, reject } of waiters) {
      if (this.completed) resolve(this.completed);
      else reject(/** @type {Error} */ (this.failure));
    }
  }

  /** The server says it holds `offset` bytes: drop what it has. @param {number} offset */
  resync(offset) {
    if (!(offset >= this.acked)) {
      const message = `the server lost acknowledged bytes (${offset} < ${this.acked})`;
      throw new TusError('offset_lost', message, { status: 0, fatal: true });
    }
    while (this.pending.length && this.pending[0].offset + this.pending[0].data.size <= offset) this.pending.shift();
    const first = this.pending[0];
    if (first && first.offset < offset) {
      this.pending[0] = { offset, data: first.data.slice(offset - first.offset) };
    }
    this.acked = offset;
  }

  async #run() {
    while (!this.completed && !this.failure) {
      const finalising = this.finalLength !== null && this.acked === this.finalLength;
      if (!this.pending.length && !finalising) {
        await new Promise((resolve) => {
          this.#wake = () => resolve(undefined);
        });
        continue;
      }
      try {
        const batch = [];
        let size = 0;
        for (const part of this.pending) {
          if (batch.length && size + part.data.size > MAX_PATCH_BYTES) break;
          batch.push(part.data);
          size += part.data.size;
        }
        const bytes = new Uint8Array(await new Blob(batch).arrayBuffer());
        const last = this.finalLength !== null && this.acked + bytes.length === this.finalLength;
        const state = await this.tus.patch(this.acked, bytes, {
          length: last ? /** @type {number} */ (this.finalLength) : undefined,
          partial: last && this.partial,
        });
        this.resync(state.offset);
        this.failures = 0;
        void this.#store.dropAcknowledged(this.tus.url, this.acked).catch(() => {});
        if (state.length !== null && state.offset === state.length) {
          this.completed = state;
          this.progress('complete', state);
        } else {
          this.progress('uploading', state);
        }
      } catch (err) {
        const error = /** @type {TusError} */ (err);
        if (error.fatal) {
          this.failure = error;
          this.progress('failed', null);
          break;
        }
        this.failures += 1;
        this.progress('retrying', null);
        await delay(this.#retryDelays[Math.min(this.failures - 1, this.#retryDelays.length - 1)]);
        try {
          const state = await this.tus.head();
          this.resync(state.offset);
          if (state.length !== null && state.offset === state.length) {
            this.completed = state;
            this.progress('complete', state);
          }
        } catch (headError) {
          if (/** @type {TusError} */ (headError).fatal) {
            this.failure = /** @type {Error} */ (headError);
            this.progress('failed', null);
          }
        }
      }
    }
    this.#settle();
  }
}

// --- the sink -----------------------------------------------------------------------------------------

/** @typedef {(name: typeof UPLOAD_PROGRESS, payload: UploadProgress) => void} EmitProgress */

/**
 * @typedef {object} UploadContext what the SDK hands the sink besides the SinkRequest (a SinkContext)
 * @property {Platform} platform where the bytes wait for the server (IndexedDB) and the upload's lock
 * @property {string} [token] the join token (upload grant)
 * @property {EmitProgress} [emit] emits SDK events
 * @property {string} [endpoint] default '/api/uploads/'
 * @property {number[]} [retryDelays] ms before each attempt after a failure (default 250 ms up to 5 s)
 */

/** Uploads while recording; `close` resolves once the server holds the whole file with our sha256. */
export class UploadSink {
  kind = 'upload';
  /** @type {Blob[]} the bytes, for the Blob this sink resolves with (the browser keeps big Blobs on disk) */
  #parts = [];
  #written = 0;
  #sha = new Sha256();
  /** @type {UploadRecord} */
  #record;
  /** @type {Pump} */
  #pump;
  #request;
  #emit;
  #store;
  /** @type {() => void} */
  #unlock = () => {};
  /** @type {Promise<void>} IndexedDB writes, in order */
  #persisting = Promise.resolve();

  /**
   * @param {import('./sinks.js').SinkRequest} request
   * @param {TusUpload} tus
   * @param {UploadRecord} record
   * @param {{store: UploadStore, emit: EmitProgress, retryDelays?: number[]}} options
   */
  constructor(request, tus, record, { store, emit, retryDelays }) {
    this.#request = request;
    this.#record = record;
    this.#emit = emit;
    this.#store = store;
    this.#pump = new Pump(tus, (state, tusState) => this.#progress(state, tusState), { store, retryDelays });
  }

  /**
   * @param {import('./sinks.js').SinkRequest} request
   * @param {UploadContext} context
   * @returns {Promise<UploadSink>}
   */
  static async open(request, { platform, token = '', emit = () => {}, endpoint = UPLOAD_ENDPOINT, retryDelays }) {
    const { account, kind } = request.recording;
    const metadata = {
      filename: request.fileName,
      filetype: request.mimeType,
      kind: kind === 'aac' ? 'mix' : 'participant',
      ...(kind === 'aac' ? {} : { target: account }),
    };
    let created;
    try {
      created = await TusUpload.create(endpoint, token, metadata);
    } catch (err) {
      const message = `the upload could not start: ${/** @type {Error} */ (err).message}`;
      throw new NetcallError(ClientErrorCode.SAVE_FAILED, message, { cause: err });
    }
    /** @type {UploadRecord} */
    const record = {
      url: created.upload.url,
      token,
      account,
      kind,
      fileName: request.fileName,
      written: 0,
      stopped: false,
      createdAt: Date.now(),
    };
    const store = uploadStore(platform);
    await store.put(record).catch(() => {});
    const sink = new UploadSink(request, created.upload, record, { store, emit, retryDelays });
    sink.recordingId = created.state.recordingId;
    // Hold the upload's lock while this page drives it, so recovery in another tab leaves it alone.
    sink.#unlock = await holdLock(platform, lockName(record.url));
    return sink;
  }

  /** @type {string | null} */
  recordingId = null;

  get uploadUrl() {
    return this.#record.url;
  }

  /** @param {Uint8Array<ArrayBuffer>} data */
  async write(data) {
    const blob = new Blob([data]);
    const offset = this.#written;
    this.#parts.push(blob);
    this.#sha.update(data);
    this.#written += data.length;
    this.#record.written = this.#written;
    const record = { ...this.#record };
    this.#persisting = this.#persisting.then(() => this.#store.addChunk(record, offset, blob)).catch(() => {});
    this.#pump.push(offset, blob);
  }

  /** Header corrections cannot be uploaded (append-only); the server remuxes instead. */
  async patch() {}

  /** @returns {Promise<import('./sinks.js').SinkResult>} */
  async close() {
    const sha256 = this.#sha.hex();
    this.#record.stopped = true;
    this.#persisting = this.#persisting.then(() => this.#store.put({ ...this.#record })).catch(() => {});
    this.#pump.finalLength = this.#written;
    let state;
    try {
      state = await this.#pump.finish();
    } catch (err) {
      this.#unlock();
      throw new NetcallError(
        ClientErrorCode.SAVE_FAILED,
        `the upload failed: ${/** @type {Error} */ (err).message}; the bytes are kept in this browser and sent on the next page load`,
        { cause: err },
      );
    }
    if (state.sha256 && state.sha256 !== sha256) {
      this.#unlock();
      throw new NetcallError(ClientErrorCode.SAVE_FAILED, `the server's copy differs (sha256 ${state.sha256}, ours ${sha256})`);
    }
    await this.#persisting;
    await this.#store.remove(this.#record.url).catch(() => {});
    this.#unlock();
    const blob = new Blob(this.#parts, { type: this.#request.mimeType });
    this.#parts = [];
    return {
      blob,
      saved: this.kind,
      fileName: this.#request.fileName,
      extra: {
        recordingId: state.recordingId ?? this.recordingId,
        url: state.url,
        sha256,
        uploadUrl: this.#record.url,
      },
    };
  }

  async abort() {
    this.#pump.fail(new Error('aborted'));
    if (this.#written === 0) {
      await this.#pump.tus.terminate();
      await this.#store.remove(this.#record.url).catch(() => {});
    }
    this.#unlock();
  }

  /** @param {UploadProgress['state']} state @param {TusState | null} tus */
  #progress(state, tus) {
    if (tus?.recordingId) this.recordingId = tus.recordingId;
    /** @type {UploadProgress} */
    const payload = {
      account: this.#request.recording.account,
      kind: this.#request.recording.kind,
      uploadUrl: this.#record.url,
      recordingId: this.recordingId,
      sent: this.#pump.acked,
      size: this.#written,
      final: this.#pump.finalLength !== null,
      state,
    };
    this.#emit(UPLOAD_PROGRESS, payload);
  }
}

/**
 * Finish what earlier pages left: for each upload kept in IndexedDB that no live page drives, send
 * the bytes the server lacks and complete it (marked partial when the recording never stopped).
 * @param {{platform: Platform, token: string, emit?: EmitProgress, retryDelays?: number[]}} options
 * @returns {Promise<{url: string, recordingId: string | null, state: string}[]>}
 */
export async function resumePendingUploads({ platform, token, emit = () => {}, retryDelays }) {
  const store = uploadStore(platform);
  const results = [];
  for (const record of await store.records().catch(() => [])) {
    const resume = () => resumeOne(record, { token, emit, store, retryDelays });
    const outcome = await withLock(platform, lockName(record.url), { ifAvailable: true }, resume).catch((err) => ({
      url: record.url,
      recordingId: null,
      state: `error: ${err?.message ?? err}`,
    }));
    if (outcome) results.push(outcome);
  }
  return results;
}

/**
 * @param {UploadRecord} record
 * @param {{token: string, emit: EmitProgress, store: UploadStore, retryDelays?: number[]}} options
 * @returns {Promise<{url: string, recordingId: string | null, state: string}>}
 */
async function resumeOne(record, { token, emit, store, retryDelays }) {
  /** @type {TusUpload | null} */
  let tus = null;
  /** @type {TusState | null} */
  let state = null;
  for (const candidate of new Set([token, record.token])) {
    try {
      tus = new TusUpload(record.url, candidate);
      state = await tus.head();
      break;
    } catch (err) {
      const status = /** @type {TusError} */ (err).status;
      if (status === 404 || status === 410) {
        console.warn(`netcall: upload ${record.url} is gone from the server (${status}); dropping its local copy`);
        await store.remove(record.url);
        return { url: record.url, recordingId: null, state: 'gone' };
      }
      tus = null;
    }
  }
  if (!tus || !state) return { url: record.url, recordingId: null, state: 'not authorised' };
  const chunks = await store.chunks(record.url);
  const have = chunks.reduce((end, c) => Math.max(end, c.offset + c.data.size), 0);
  const total = Math.max(have, state.offset);
  const payload = (/** @type {UploadProgress['state']} */ s, /** @type {TusState | null} */ t) => ({
    account: record.account,
    kind: record.kind,
    uploadUrl: record.url,
    recordingId: t?.recordingId ?? state?.recordingId ?? null,
    sent: t?.offset ?? state?.offset ?? 0,
    size: total,
    final: true,
    state: s === 'complete' ? 'recovered' : s === 'uploading' ? 'recovering' : s,
  });
  if (state.length !== null && state.offset === state.length) {
    await store.remove(record.url);
    emit(UPLOAD_PROGRESS, payload('complete', state));
    return { url: record.url, recordingId: state.recordingId, state: 'complete' };
  }
  const pump = new Pump(tus, (s, t) => emit(UPLOAD_PROGRESS, payload(s, t)), { store, retryDelays });
  pump.acked = state.offset;
  for (const chunk of chunks) pump.pending.push(chunk);
  pump.resync(state.offset);
  pump.finalLength = total;
  pump.partial = !record.stopped;
  emit(UPLOAD_PROGRESS, payload('uploading', state));
  const done = await pump.finish();
  await store.remove(record.url);
  return { url: record.url, recordingId: done.recordingId, state: 'complete' };
}
