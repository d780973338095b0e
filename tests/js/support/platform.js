// A Platform (static/netcall/platform.js) for Node: IndexedDB from fake-indexeddb (a fresh, empty
// database world per platform unless one is shared), Web Locks in memory, downloads collected in a list.
// Two "pages" of one browser share `indexedDB` and `locks`; a page that dies releases its locks.

import 'fake-indexeddb/auto'; // IDBKeyRange and friends as globals, as in a browser
import { IDBFactory } from 'fake-indexeddb';

/** Exclusive Web Locks in memory: `request(name, [options], callback)` as navigator.locks has it. */
export class MemoryLocks {
  /** @type {Map<string, (() => void)[]>} held locks, with the requests waiting for each */
  #held = new Map();

  /**
   * @template T
   * @param {string} name
   * @param {{ifAvailable?: boolean} | ((lock: object | null) => T | Promise<T>)} options
   * @param {(lock: object | null) => T | Promise<T>} [callback]
   * @returns {Promise<T>}
   */
  async request(name, options, callback) {
    const work = typeof options === 'function' ? options : /** @type {(lock: object | null) => T | Promise<T>} */ (callback);
    const { ifAvailable = false } = typeof options === 'function' ? {} : options;
    const waiting = this.#held.get(name);
    if (waiting) {
      if (ifAvailable) return work(null);
      await new Promise((resolve) => waiting.push(() => resolve(undefined)));
    } else {
      this.#held.set(name, []);
    }
    try {
      return await work({ name, mode: 'exclusive' });
    } finally {
      const next = this.#held.get(name)?.shift();
      if (next) next();
      else this.#held.delete(name);
    }
  }

  /** @param {string} name @returns {boolean} */
  isHeld(name) {
    return this.#held.has(name);
  }
}

/**
 * @typedef {import('../../../static/netcall/platform.js').Platform & {downloads: {blob: Blob, fileName: string}[]}} TestPlatform
 */

/**
 * @param {{indexedDB?: IDBFactory | null, locks?: MemoryLocks}} [shared] what another page of the same browser has
 * @returns {TestPlatform}
 */
export function testPlatform({ indexedDB = new IDBFactory(), locks = new MemoryLocks() } = {}) {
  /** @type {{blob: Blob, fileName: string}[]} */
  const downloads = [];
  return {
    indexedDB,
    locks: /** @type {LockManager} */ (/** @type {unknown} */ (locks)),
    download: (blob, fileName) => downloads.push({ blob, fileName }),
    playDetached: () => () => {},
    downloads,
  };
}
