// What the SDK's core needs of the browser beyond WebRTC and media: IndexedDB (the recording journal
// and the upload store), Web Locks (one tab drives a recording or an upload), downloads, and playing a
// remote stream out where the page does not see it. The core modules (recorder, sinks, journal,
// upload, record-sources) receive a Platform and never reach for `document`, `indexedDB` or
// `navigator.locks` themselves, so they load in Node with a stand-in (tests/js/).
//
//   netcall.js ──browserPlatform──> recorder.js ──> sinks.js / journal.js / upload.js / record-sources.js
//
// The helpers below (openDatabase, transaction, withLock, holdLock) are the only IndexedDB and Web
// Locks code of the SDK; each works on whatever Platform it is given.

import { downloadBlob, playDetached } from './dom.js';

/**
 * @typedef {object} Platform
 * @property {IDBFactory | null} indexedDB where recordings and uploads persist; null: nothing persists
 * @property {LockManager | null} locks Web Locks; null: no other tab can interfere (every lock is granted)
 * @property {(blob: Blob, fileName: string) => void} download let the user have a file
 * @property {(stream: MediaStream) => () => void} playDetached play a stream in a muted element no page
 *   shows (Chromium delivers remote audio to WebAudio only while something plays it); returns a stop function
 */

/** @type {Platform} the browser's: globals read when used, so importing this module needs no DOM */
export const browserPlatform = Object.freeze({
  get indexedDB() {
    return globalThis.indexedDB ?? null;
  },
  get locks() {
    return globalThis.navigator?.locks ?? null;
  },
  download: downloadBlob,
  playDetached,
});

// --- IndexedDB --------------------------------------------------------------------------------------

/** @type {WeakMap<Platform, Map<string, Promise<IDBDatabase | null>>>} opened once per platform and name */
const databases = new WeakMap();

/**
 * Open a database of the platform, once: later calls share the first one's promise.
 * @param {Platform} platform
 * @param {string} name
 * @param {number} version
 * @param {(db: IDBDatabase) => void} upgrade creates the object stores
 * @returns {Promise<IDBDatabase | null>} null where IndexedDB is unavailable or refuses (nothing persists)
 */
export function openDatabase(platform, name, version, upgrade) {
  let opened = databases.get(platform);
  if (!opened) databases.set(platform, (opened = new Map()));
  let opening = opened.get(name);
  if (!opening) {
    opening = new Promise((resolve) => {
      const factory = platform.indexedDB;
      if (!factory) return resolve(null);
      const request = factory.open(name, version);
      request.onupgradeneeded = () => upgrade(request.result);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    });
    opened.set(name, opening);
  }
  return opening;
}

/**
 * Run `work` in a transaction; resolves once it has committed.
 * @template T
 * @param {IDBDatabase} db
 * @param {string[]} stores
 * @param {IDBTransactionMode} mode
 * @param {(tx: IDBTransaction) => IDBRequest<T> | void} work
 * @returns {Promise<T | undefined>} the result of the request `work` returns
 */
export function transaction(db, stores, mode, work) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(stores, mode);
    const request = work(tx);
    tx.oncomplete = () => resolve(request ? request.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

/**
 * Every key of a store whose compound key starts with `id`: `[id, 0]` to `[id, MAX_SAFE_INTEGER]`.
 * @param {string} id
 * @param {number} [upTo] the highest second key part (default: all)
 * @returns {IDBKeyRange}
 */
export function keysOf(id, upTo = Number.MAX_SAFE_INTEGER) {
  return IDBKeyRange.bound([id, 0], [id, upTo]);
}

// --- Web Locks --------------------------------------------------------------------------------------

/**
 * Run `work` holding the lock `name`.
 * @template T
 * @param {Platform} platform
 * @param {string} name
 * @param {{ifAvailable?: boolean}} options `ifAvailable`: do not wait for another holder, give up
 * @param {() => Promise<T>} work
 * @returns {Promise<T | null>} null when someone else holds it (ifAvailable)
 */
export async function withLock(platform, name, { ifAvailable = false }, work) {
  const locks = platform.locks;
  if (!locks) return work();
  return locks.request(name, { ifAvailable }, (lock) => (lock ? work() : null));
}

/**
 * Take the lock `name` and keep it until the returned function is called.
 * @param {Platform} platform
 * @param {string} name
 * @returns {Promise<() => void>} resolves once the lock is held, with its release
 */
export function holdLock(platform, name) {
  const locks = platform.locks;
  if (!locks) return Promise.resolve(() => {});
  return new Promise((held) => {
    void locks.request(name, () => new Promise((release) => held(() => release(undefined))));
  });
}
