// Real recordings for the fixer tests, made by Chromium's MediaRecorder (tests/js/media_tool.py),
// and PyAV's view of files: the Python side of the node tests.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TOOL = join(ROOT, 'tests/js/media_tool.py');
/** The Python with Playwright and PyAV: the project's venv unless NETCALL_TEST_PYTHON says otherwise. */
const PYTHON = process.env.NETCALL_TEST_PYTHON ?? join(ROOT, '.venv/bin/python');

/**
 * @typedef {object} Recording
 * @property {string} name e.g. 'video-vp8'
 * @property {string} mimeType what MediaRecorder says it produced
 * @property {'webm'|'mp4'} container
 * @property {boolean} video
 * @property {Uint8Array[]} chunks as MediaRecorder handed them out (1 s timeslice)
 * @property {number} seconds how long it recorded (wall clock)
 */

/**
 * A temporary folder, removed by `remove()`.
 * @returns {Promise<{path: string, remove: () => Promise<void>}>}
 */
export async function tempDir() {
  const path = await mkdtemp(join(tmpdir(), 'netcall-js-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Every format this Chromium records (a few seconds each), recorded once and kept in
 * var/test-media/<hash of media_tool.py>/ for the test files and runs after (NETCALL_TEST_MEDIA_FRESH=1
 * records anew): what `make test` starts from on a clean clone is a fresh recording.
 * @returns {Promise<Recording[]>}
 */
export async function recordings() {
  const key = createHash('sha1').update(await readFile(TOOL)).digest('hex').slice(0, 12);
  const cache = join(ROOT, 'var/test-media');
  const dir = join(cache, key);
  const have = await access(join(dir, 'manifest.json')).then(() => true, () => false);
  if (!have || process.env.NETCALL_TEST_MEDIA_FRESH) {
    await mkdir(cache, { recursive: true });
    const fresh = await mkdtemp(join(cache, 'recording-'));
    await run(PYTHON, [TOOL, 'record', fresh], { cwd: ROOT, timeout: 120_000, maxBuffer: 1 << 20 });
    if (have) await rm(dir, { recursive: true, force: true });
    // Another test process may have finished first: then its recordings are as good as ours.
    await rename(fresh, dir).catch(() => rm(fresh, { recursive: true, force: true }));
  }
  return load(dir);
}

/**
 * @param {string} dir a folder media_tool.py recorded into
 * @returns {Promise<Recording[]>}
 */
async function load(dir) {
  /** @type {{name: string, file: string, mimeType: string, container: 'webm'|'mp4', video: boolean, chunks: number[], seconds: number}[]} */
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  return Promise.all(
    manifest.map(async (entry) => {
      const bytes = new Uint8Array(await readFile(join(dir, entry.file)));
      const chunks = [];
      let at = 0;
      for (const size of entry.chunks) {
        chunks.push(bytes.slice(at, at + size));
        at += size;
      }
      return { ...entry, chunks };
    }),
  );
}

/**
 * @typedef {object} Probe what PyAV reads of a file (media_tool.py probe)
 * @property {boolean} ok whether it opened and every packet decoded
 * @property {string} [error]
 * @property {number | null} [duration] seconds, as the header says (null: none)
 * @property {{type: string, codec: string, end: number, frames: number, first?: number}[]} [streams] `end`: where
 *   the stream's last packet ends, in seconds; `frames`: how many decoded; `first`: the first decoded
 *   frame's time (a decoder drops an Opus stream's pre-skip there)
 */

/**
 * @param {string[]} paths
 * @returns {Promise<Record<string, Probe>>} by path
 */
export async function probe(paths) {
  if (paths.length === 0) return {};
  const { stdout } = await run(PYTHON, [TOOL, 'probe', ...paths], { cwd: ROOT, timeout: 120_000, maxBuffer: 16 << 20 });
  return JSON.parse(stdout);
}

/**
 * @param {Probe} probed
 * @returns {number} where the media really ends: the latest end of any stream
 */
export function contentEnd(probed) {
  return Math.max(0, ...(probed.streams ?? []).map((s) => s.end));
}
