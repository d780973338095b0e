// The container fixers (webm-fix.js, mp4-fix.js) on real MediaRecorder output: Chromium records a few
// seconds of each format the SDK uses (media_tool.py), the fixer streams it as the recorder does, and
// PyAV must open the result with the duration its media really has. Then the same recordings chunked
// differently (the output must not change), cut short (a crashed page's journal: the fixer must not
// throw, and the file must end on whole media with the duration it really has) and corrupted (no
// throw; a file is never made worse than the browser's own).

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { containerFixer } from '../../static/netcall/journal.js';
import { join, mp4Durations, randomBytes, rechunk, replay, seededRandom, truncate } from './support/bytes.js';
import { contentEnd, probe, recordings as recorded, tempDir } from './support/media.js';

/** Header duration, fixer's duration and where the media ends agree within this (s): under a frame. */
const TOLERANCE = 0.05;

/** @type {{path: string, remove: () => Promise<void>}} */
let dir;
/** @type {import('./support/media.js').Recording[]} */
let recordings = [];

before(async () => {
  dir = await tempDir();
  recordings = await recorded();
});

after(() => dir?.remove());

/**
 * A case: a way of feeding one recording to its fixer. `replayed` or `error` after `run`, the probe
 * of its file after `probeAll`.
 * @typedef {object} Case
 * @property {string} name
 * @property {() => import('./support/bytes.js').Replayed} run
 * @property {import('./support/bytes.js').Replayed} [replayed]
 * @property {unknown} [error]
 * @property {string} [file]
 * @property {import('./support/media.js').Probe} [probed]
 */

/**
 * Run every case (catching what it throws), write the files and probe them all at once.
 * @param {import('./support/media.js').Recording} recording
 * @param {Case[]} cases
 */
async function runAll(recording, cases) {
  for (const [i, c] of cases.entries()) {
    try {
      c.replayed = c.run();
      c.file = joinPath(dir.path, `${recording.name}-${i}.${recording.container}`);
      await writeFile(c.file, c.replayed.bytes);
    } catch (err) {
      c.error = err;
    }
  }
  const probed = await probe(cases.flatMap((c) => (c.file ? [c.file] : [])));
  for (const c of cases) if (c.file) c.probed = probed[c.file];
}

/**
 * The file opens, every packet decodes, and its header says how long its media really is.
 * @param {Case} c
 * @param {{fixerDuration?: boolean}} [options] `fixerDuration`: finish() said the same
 */
function assertRightDuration(c, { fixerDuration = true } = {}) {
  assert.equal(c.error, undefined, `${c.name}: the fixer threw ${c.error}`);
  const probed = /** @type {import('./support/media.js').Probe} */ (c.probed);
  assert.ok(probed.ok, `${c.name}: PyAV could not read the file: ${probed.error}`);
  const end = contentEnd(probed);
  assert.ok(end > 0, `${c.name}: no media in the file`);
  assert.notEqual(probed.duration, null, `${c.name}: no duration in the header`);
  const header = /** @type {number} */ (probed.duration);
  assert.ok(Math.abs(header - end) <= TOLERANCE, `${c.name}: the header says ${header} s, the media ends at ${end} s`);
  if (fixerDuration) {
    const said = /** @type {number} */ (c.replayed?.duration);
    assert.ok(Math.abs(said - header) <= TOLERANCE, `${c.name}: finish() said ${said} s, the header ${header} s`);
  }
}

/** @param {import('./support/media.js').Recording} recording */
const whole = (recording) => join(recording.chunks);

for (const container of /** @type {const} */ (['webm', 'mp4'])) {
  describe(`${container} fixer`, () => {
    /** @type {Map<string, Case[]>} cases by recording */
    const byRecording = new Map();

    before(async () => {
      const ours = recordings.filter((r) => r.container === container);
      assert.ok(ours.length > 0, `Chromium recorded no ${container}`);
      for (const recording of ours) {
        const bytes = whole(recording);
        const random = seededRandom(bytes.length);
        const header = headerLength(recording);
        /** @type {Case[]} */
        const cases = [
          { name: 'as recorded', run: () => replay(containerFixer(container), recording.chunks) },
          { name: 'in one piece', run: () => replay(containerFixer(container), [bytes]) },
          { name: 'in 1000-byte chunks', run: () => replay(containerFixer(container), rechunk(bytes, () => 1000)) },
          {
            name: 'in random chunks, bytes one at a time through the header',
            run: () =>
              replay(
                containerFixer(container),
                [...rechunk(bytes.subarray(0, header + 40), () => 1), ...rechunk(bytes.subarray(header + 40), () => 1 + random() * 30_000)],
              ),
          },
        ];
        // Cut short, as a dead page's journal is: at chunk boundaries and anywhere in between.
        const cuts = new Set();
        let boundary = 0;
        for (const chunk of recording.chunks.slice(0, -1)) {
          boundary += chunk.length;
          if (boundary > header) cuts.add(boundary);
        }
        for (const fraction of [0.35, 0.5, 0.62, 0.8, 0.93]) {
          const at = header + Math.floor((bytes.length - header) * fraction);
          for (let d = 0; d < 4; d++) cuts.add(at + d);
        }
        for (const at of [...cuts].sort((a, b) => a - b)) {
          cases.push({
            name: `cut at byte ${at} of ${bytes.length}`,
            run: () => replay(containerFixer(container), truncate(recording.chunks, at), { cut: true, fallbackSeconds: 1 }),
          });
        }
        byRecording.set(recording.name, cases);
        await runAll(recording, cases);
      }
    });

    test('a whole recording: PyAV reads the duration its media has', () => {
      for (const [name, cases] of byRecording) {
        const [asRecorded] = cases;
        assertRightDuration({ ...asRecorded, name: `${name} ${asRecorded.name}` });
        assert.equal(asRecorded.replayed?.fixed, true, `${name}: not fixed`);
      }
    });

    test("the browser's own file lacks it (what the fixer is for)", async () => {
      const ours = recordings.filter((r) => r.container === container);
      const files = ours.map((r) => joinPath(dir.path, `${r.name}-raw.${container}`));
      await Promise.all(ours.map((r, i) => writeFile(files[i], whole(r))));
      const probed = await probe(files);
      for (const [i, recording] of ours.entries()) {
        if (container === 'webm') {
          assert.equal(probed[files[i]].duration, null, `${recording.name}: Chromium wrote a duration after all`);
        } else {
          assert.equal(mp4Durations(whole(recording)).movie, 0, `${recording.name}: Chromium's mvhd has a duration`);
        }
      }
    });

    test('the output does not depend on how the input is chunked', () => {
      for (const [name, cases] of byRecording) {
        const reference = cases[0].replayed?.bytes;
        for (const c of cases.slice(1, 4)) {
          assert.equal(c.error, undefined, `${name} ${c.name}: the fixer threw ${c.error}`);
          assert.ok(reference && c.replayed && Buffer.from(c.replayed.bytes).equals(Buffer.from(reference)), `${name} ${c.name}: other bytes`);
        }
      }
    });

    if (container === 'mp4') {
      test('every duration field of the header is patched (mvhd, mehd, tkhd, mdhd)', () => {
        for (const [name, cases] of byRecording) {
          const c = cases[0];
          const end = contentEnd(/** @type {import('./support/media.js').Probe} */ (c.probed));
          const fields = mp4Durations(/** @type {Uint8Array} */ (c.replayed?.bytes));
          const all = [fields.movie, fields.fragments, ...fields.tracks.flatMap((t) => [t.header, t.media])];
          for (const value of all) {
            assert.ok(value !== null && Math.abs(value - end) <= 0.15, `${name}: a header field says ${value} s, the media ends at ${end} s (${JSON.stringify(fields)})`);
          }
        }
      });

      test("Opus audio decodes from the start: the pre-skip is the encoder's delay, not Chromium's 80 ms", () => {
        for (const [name, cases] of byRecording) {
          const probed = /** @type {import('./support/media.js').Probe} */ (cases[0].probed);
          const audio = probed.streams?.find((s) => s.type === 'audio');
          assert.ok(audio && audio.codec === 'opus', `${name}: no Opus stream (${JSON.stringify(probed.streams)})`);
          assert.ok(audio.first !== undefined && audio.first < 0.01, `${name}: the audio decodes from ${audio.first} s`);
        }
      });
    }

    test('a cut recording: no throw, and PyAV reads the duration of what is left', () => {
      for (const [name, cases] of byRecording) {
        for (const c of cases.slice(4)) assertRightDuration({ ...c, name: `${name} ${c.name}` });
      }
    });

    test('a recording cut inside its header: no throw, the bytes are kept', () => {
      for (const recording of recordings.filter((r) => r.container === container)) {
        const bytes = whole(recording);
        for (const at of [1, 7, 20, Math.floor(headerLength(recording) / 2), headerLength(recording) - 1]) {
          const { bytes: out, fixed } = replay(containerFixer(container), truncate(recording.chunks, at), { cut: true, fallbackSeconds: 1 });
          assert.equal(fixed, false, `${recording.name} cut at ${at}`);
          assert.ok(Buffer.from(out).equals(Buffer.from(bytes.subarray(0, at))), `${recording.name} cut at ${at}: not passed through`);
        }
      }
    });

    test('corrupted input: no throw, and a file that is not one passes through unchanged', () => {
      const random = seededRandom(7);
      for (const recording of recordings.filter((r) => r.container === container)) {
        const bytes = whole(recording);
        const header = headerLength(recording);
        // Noise instead of the file, and a file whose first byte is wrong: passed through byte for byte.
        const wrongStart = bytes.slice();
        wrongStart[0] ^= 0xff;
        for (const input of [randomBytes(random, 5000), wrongStart]) {
          const { bytes: out, fixed } = replay(containerFixer(container), rechunk(input, () => 1 + random() * 4000), { fallbackSeconds: 3 });
          assert.equal(fixed, false, recording.name);
          assert.ok(Buffer.from(out).equals(Buffer.from(input)), `${recording.name}: a file that is not one was changed`);
        }
        // Noise in the media, a few bytes flipped, a chunk lost: whatever happens, no throw.
        for (let round = 0; round < 20; round++) {
          const damaged = bytes.slice();
          const at = header + Math.floor(random() * (bytes.length - header - 64));
          if (round % 3 === 0) damaged.set(randomBytes(random, 64), at);
          else for (let k = 0; k < 8; k++) damaged[header + Math.floor(random() * (bytes.length - header))] ^= 0xff;
          const input = round % 3 === 2 ? join([damaged.subarray(0, at), damaged.subarray(at + 4096)]) : damaged;
          const { bytes: out } = replay(containerFixer(container), rechunk(input, () => 1 + random() * 20_000), {
            cut: round % 2 === 0,
            fallbackSeconds: recording.seconds,
          });
          assert.ok(out.length > 0, recording.name);
        }
      }
    });
  });
}

/**
 * How many bytes of the recording come before the first media (WebM: the first Cluster; MP4: the
 * first moof): what the fixer holds back and rewrites.
 * @param {import('./support/media.js').Recording} recording
 * @returns {number}
 */
function headerLength(recording) {
  const bytes = whole(recording);
  const marker = recording.container === 'webm' ? [0x1f, 0x43, 0xb6, 0x75] : [0x6d, 0x6f, 0x6f, 0x66]; // Cluster id, 'moof'
  for (let i = 0; i + 4 <= bytes.length; i++) {
    if (marker.every((b, k) => bytes[i + k] === b)) return recording.container === 'webm' ? i : i - 4;
  }
  throw new Error(`${recording.name}: no media found`);
}
