// save: 'folder': the seed's save-to-path, in a browser. The user grants one recordings folder once
// (showDirectoryPicker, from a click); the handle is kept in IndexedDB, so later pages of this origin
// write there too while the browser keeps the permission. Each recording goes to its path's relative
// part inside that folder (save-path.js), sub-folders created, never over an existing file.
//
//   recorder ──folderPath──> sinks.js 'folder' ──> folderFile() (this module) ──> FileSink (streamed)
//                                                  └─ no folder / no permission: null ─> DownloadSink,
//                                                     and a 'recordSaveFallback' event says so
//
// Where the permission lapsed (a new session of the browser), the next start asks again
// (requestPermission, which needs a user gesture: call start from a click); without one it falls back
// to a download. Cross-origin frames may not show a picker (the iframe embed): a folder handed in with
// setRecordFolder() (e.g. the origin-private file system) still works there.

import { NetcallEvent } from './events.js';
import { canPickFolder } from './formats.js';
import { openDatabase, transaction } from './platform.js';
import { numberedName } from './save-path.js';

const DB_NAME = 'netcall-folder';
const FOLDER_KEY = 'recordings';
/** How many numbered names ('test (1).mp4', ...) to try before giving up. */
const MAX_NUMBERED = 1000;

/** @typedef {import('./platform.js').Platform} Platform */
/** @typedef {import('./save-path.js').FolderPath} FolderPath */

/**
 * @typedef {object} FolderFile a file made for one recording inside the recordings folder
 * @property {FileSystemFileHandle} handle
 * @property {string} path its path inside the folder ('calls/2026/test (1).mp4')
 * @property {string} folder the folder's name
 * @property {() => void} release call once the recording is saved or dropped (frees the name)
 */

/**
 * The payload of 'recordSaveFallback': a recording could not go where it was asked to, and is
 * downloaded instead.
 * @typedef {object} RecordSaveFallback
 * @property {string} account
 * @property {string} kind
 * @property {string} wanted 'folder'
 * @property {string} saved 'download'
 * @property {string} reason 'unsupported' | 'refused' | 'permission' | 'failed'
 * @property {string} message
 */

/** @type {WeakMap<Platform, FileSystemDirectoryHandle | null>} the folder, once read or chosen */
const folders = new WeakMap();
/** Paths (folder name + path) that a running recording of this page is writing: never handed out twice. */
const reserved = new Set();

/** @param {Platform} platform @returns {Promise<IDBDatabase | null>} */
function database(platform) {
  return openDatabase(platform, DB_NAME, 1, (db) => db.createObjectStore('folders', { keyPath: 'id' }));
}

/**
 * The recordings folder kept for this origin, or null.
 * @param {Platform} platform
 * @returns {Promise<FileSystemDirectoryHandle | null>}
 */
export async function recordFolder(platform) {
  if (folders.has(platform)) return folders.get(platform) ?? null;
  const db = await database(platform);
  const row = db
    ? await transaction(db, ['folders'], 'readonly', (tx) => tx.objectStore('folders').get(FOLDER_KEY)).catch(() => null)
    : null;
  const handle = row?.handle ?? null;
  if (!folders.has(platform)) folders.set(platform, handle);
  return folders.get(platform) ?? null;
}

/**
 * Keep `handle` as the recordings folder (null forgets it).
 * @param {Platform} platform
 * @param {FileSystemDirectoryHandle | null} handle
 */
export async function setRecordFolder(platform, handle) {
  folders.set(platform, handle);
  const db = await database(platform);
  if (!db) return;
  await transaction(db, ['folders'], 'readwrite', (tx) => {
    const store = tx.objectStore('folders');
    if (handle) store.put({ id: FOLDER_KEY, handle });
    else store.delete(FOLDER_KEY);
  });
}

/**
 * Ask the user for the recordings folder (a directory picker: call it from a click) and keep it.
 * @param {Platform} platform
 * @returns {Promise<FileSystemDirectoryHandle>}
 */
export async function chooseRecordFolder(platform) {
  const handle = await /** @type {any} */ (globalThis).showDirectoryPicker({ id: 'netcall-recordings', mode: 'readwrite' });
  await setRecordFolder(platform, handle);
  return handle;
}

/**
 * @param {FileSystemDirectoryHandle} folder
 * @returns {Promise<boolean>} whether we may write there now (asking, which needs a user gesture, if the
 *   permission lapsed)
 */
async function writable(folder) {
  const handle = /** @type {any} */ (folder);
  if (typeof handle.queryPermission !== 'function') return true; // the origin-private file system
  const options = { mode: 'readwrite' };
  if ((await handle.queryPermission(options)) === 'granted') return true;
  try {
    return (await handle.requestPermission(options)) === 'granted';
  } catch {
    return false; // no user gesture: ask again next time
  }
}

/**
 * @param {FileSystemDirectoryHandle} dir
 * @param {string} name
 * @returns {Promise<boolean>} whether an entry of that name exists (a file or a folder)
 */
async function exists(dir, name) {
  try {
    await dir.getFileHandle(name);
    return true;
  } catch (err) {
    const reason = /** @type {any} */ (err)?.name;
    if (reason === 'NotFoundError') return false;
    if (reason === 'TypeMismatchError') return true; // a folder of that name
    throw err;
  }
}

/**
 * A new file for a recording at `target` inside the recordings folder, or null (after telling the page
 * why) when it has to be downloaded instead.
 * @param {FolderPath} target
 * @param {{platform: Platform, emit?: (name: any, payload: any) => void, recording: {account: string, kind: string}}} context
 * @returns {Promise<FolderFile | null>}
 */
export async function folderFile(target, { platform, emit, recording }) {
  /** @param {string} reason @param {string} message @returns {null} */
  const fallBack = (reason, message) => {
    console.info(`netcall: ${message}; the recording will be downloaded`);
    /** @type {RecordSaveFallback} */
    const payload = { account: recording.account, kind: recording.kind, wanted: 'folder', saved: 'download', reason, message };
    emit?.(NetcallEvent.RECORD_SAVE_FALLBACK, payload);
    return null;
  };
  let folder = await recordFolder(platform);
  if (!folder) {
    if (!canPickFolder()) return fallBack('unsupported', 'this browser (or frame) cannot pick a folder');
    try {
      folder = await chooseRecordFolder(platform);
    } catch (err) {
      // AbortError: the user closed the dialog; SecurityError: no user gesture, or a cross-origin frame.
      return fallBack('refused', `no recordings folder was chosen (${/** @type {any} */ (err)?.name ?? err})`);
    }
  } else if (!(await writable(folder))) {
    return fallBack('permission', `the recordings folder '${folder.name}' may not be written now (start from a click to be asked)`);
  }
  try {
    let dir = folder;
    for (const part of target.dirs) dir = await dir.getDirectoryHandle(part, { create: true });
    for (let n = 0; n < MAX_NUMBERED; n++) {
      const name = numberedName(target.fileName, n);
      const path = [...target.dirs, name].join('/');
      const key = `${folder.name}\u0000${path}`;
      if (reserved.has(key) || (await exists(dir, name))) continue;
      reserved.add(key);
      try {
        const handle = await dir.getFileHandle(name, { create: true });
        return { handle, path, folder: folder.name, release: () => reserved.delete(key) };
      } catch (err) {
        reserved.delete(key);
        throw err;
      }
    }
    return fallBack('failed', `every name like ${target.fileName} is taken in ${target.dirs.join('/') || 'the folder'}`);
  } catch (err) {
    return fallBack('failed', `the recordings folder '${folder.name}' could not be written (${err})`);
  }
}
