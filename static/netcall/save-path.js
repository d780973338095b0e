// What a recording's suggested `path` may name (the seed's PC-Agent form: `path: 'E:/calls/2026/test.mp4'`),
// with no I/O: pure functions, unit-tested in Node (tests/js/save-path.test.js).
//
//   recordFileName()   the file name alone: the last component, cleaned, its extension the container's
//                      (every save but 'folder': a browser never writes to a disk path)
//   folderRecordPath() with save: 'folder', the path's relative part inside the recordings folder:
//                      drive letters and leading separators dropped, each component cleaned by the same
//                      rules, '..' refused (the path never leaves the folder)
//   numberedName()     'test.mp4', 'test (1).mp4', ...: an existing file is never overwritten

import { ClientErrorCode, NetcallError } from './errors.js';

/** Longest component kept (characters). */
const MAX_COMPONENT = 120;
/** Most sub-folders a path may create. */
const MAX_DEPTH = 16;

/**
 * One component of a name: control characters and those Windows refuses become '_'; trimmed; cut.
 * @param {string} s
 * @returns {string}
 */
function clean(s) {
  return s
    .replace(/[\u0000-\u001f\u007f<>:"|?*\\/]/gu, '_')
    .trim()
    .slice(0, MAX_COMPONENT);
}

/**
 * The file name for a recording: the last component of `path` (if any), its extension replaced by
 * the container's. Never a path.
 * @param {unknown} path
 * @param {string} fallbackStem used when `path` gives no usable name
 * @param {string} extension with its dot
 * @returns {string}
 */
export function recordFileName(path, fallbackStem, extension) {
  let name = typeof path === 'string' ? (path.split(/[\\/:]/u).pop() ?? '') : '';
  name = clean(name);
  const dot = name.lastIndexOf('.');
  let stem = dot > 0 ? name.slice(0, dot) : name;
  stem = stem.replace(/^\.+|\.+$/gu, '');
  if (!stem) stem = clean(fallbackStem) || 'recording';
  return `${stem}${extension}`;
}

/**
 * @typedef {object} FolderPath where a recording goes inside the recordings folder
 * @property {string[]} dirs sub-folders, outermost first (created as needed)
 * @property {string} fileName the file's name, as recordFileName() makes it
 */

/**
 * The relative part of `path` inside the recordings folder: 'E:/calls/2026/test.mp4' ->
 * {dirs: ['calls', '2026'], fileName: 'test.mp4'}. Drive letters ('E:'), leading separators (absolute
 * paths) and '.' components are dropped; a '..' component is refused (NetcallError `bad_argument`):
 * the path stays inside the folder whatever it says.
 * @param {unknown} path
 * @param {string} fallbackStem the file's stem when `path` names no file
 * @param {string} extension the container's, with its dot
 * @returns {FolderPath}
 */
export function folderRecordPath(path, fallbackStem, extension) {
  if (typeof path !== 'string' || path === '') return { dirs: [], fileName: recordFileName('', fallbackStem, extension) };
  const parts = path.replace(/^[A-Za-z]:/u, '').split(/[\\/]/u);
  if (parts.some((part) => part.trim() === '..')) {
    throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, `path ${JSON.stringify(path.slice(0, 200))} climbs out of the recordings folder ('..')`);
  }
  const last = parts.pop() ?? '';
  const dirs = parts
    .map((part) => clean(part).replace(/^[.\s]+|[.\s]+$/gu, ''))
    .filter((part) => part !== '');
  if (dirs.length > MAX_DEPTH) {
    throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, `path has more than ${MAX_DEPTH} folders`);
  }
  return { dirs, fileName: recordFileName(last, fallbackStem, extension) };
}

/**
 * The n-th name to try for a file that may exist already: n = 0 is the name itself, then 'test (1).mp4'...
 * @param {string} fileName
 * @param {number} n
 * @returns {string}
 */
export function numberedName(fileName, n) {
  if (n === 0) return fileName;
  const dot = fileName.lastIndexOf('.');
  const [stem, extension] = dot > 0 ? [fileName.slice(0, dot), fileName.slice(dot)] : [fileName, ''];
  return `${stem} (${n})${extension}`;
}
