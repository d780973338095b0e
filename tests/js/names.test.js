// How a recording's file is named: recordFileName() (the last component of a suggested `path`,
// cleaned, its extension corrected to the container's), the default stem when no path is given, the
// extension of each format (formats.js), and the rename when the recorder falls back to another container.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { describeMimeType, pickFormat, recordFormats } from '../../static/netcall/formats.js';
import { defaultStem, recordFileName, withExtension } from '../../static/netcall/recorder.js';

test('recordFileName keeps only the last component of a path, never a path', () => {
  const cases = [
    ['E:/test.mp4', 'test.mp4'],
    ['E:\\\\records\\\\bob.mp4', 'bob.mp4'],
    ['/home/alice/../etc/passwd', 'passwd.mp4'],
    ['C:evil.mp4', 'evil.mp4'],
    ['../../x.webm', 'x.mp4'],
    ['dir/', 'fallback.mp4'],
    ['..', 'fallback.mp4'],
  ];
  for (const [path, expected] of cases) assert.equal(recordFileName(path, 'fallback', '.mp4'), expected, path);
});

test("recordFileName replaces the extension by the container's, whatever the path said", () => {
  assert.equal(recordFileName('test.mp4', 'x', '.webm'), 'test.webm');
  assert.equal(recordFileName('mix.m4a', 'x', '.m4a'), 'mix.m4a');
  assert.equal(recordFileName('notes.final.txt', 'x', '.mp4'), 'notes.final.mp4');
  assert.equal(recordFileName('noextension', 'x', '.mp4'), 'noextension.mp4');
  assert.equal(recordFileName('.hidden', 'x', '.mp4'), 'hidden.mp4');
  assert.equal(recordFileName('trailing...', 'x', '.mp4'), 'trailing.mp4');
  assert.equal(recordFileName('..mp4', 'x', '.mp4'), 'x.mp4'); // nothing but dots before the extension
});

test('recordFileName cleans what a file system would refuse, and bounds the length', () => {
  assert.equal(recordFileName('a<b>c"d|e?f*g.mp4', 'x', '.mp4'), 'a_b_c_d_e_f_g.mp4');
  assert.equal(recordFileName('tab\tnew\nline.mp4', 'x', '.mp4'), 'tab_new_line.mp4');
  assert.equal(recordFileName('  spaced  .mp4', 'x', '.mp4'), 'spaced  .mp4');
  const long = recordFileName(`${'a'.repeat(300)}.mp4`, 'x', '.mp4');
  assert.ok(long.length <= 120 + '.mp4'.length, `${long.length} characters`);
  assert.ok(long.endsWith('.mp4'));
  assert.equal(recordFileName('ünïcødé 录音.mp4', 'x', '.mp4'), 'ünïcødé 录音.mp4');
});

test('recordFileName falls back to the stem when the path gives no name, and to "recording" after that', () => {
  for (const path of [undefined, null, '', 42, {}, '   ', '/', 'C:']) {
    assert.equal(recordFileName(path, 'bob-20240102-030405', '.mp4'), 'bob-20240102-030405.mp4', String(path));
  }
  assert.equal(recordFileName(undefined, 'mix-a/b:c-1', '.m4a'), 'mix-a_b_c-1.m4a');
  assert.equal(recordFileName(undefined, '', '.webm'), 'recording.webm');
  assert.equal(recordFileName('...', '///', '.webm'), '___.webm');
});

test('the default stem: whom and when (local time), the mix by channel', () => {
  const date = new Date(2024, 0, 2, 3, 4, 5);
  assert.equal(defaultStem('mp4', 'bob', 'room', date), 'bob-20240102-030405');
  assert.equal(defaultStem('aac', 'alice', 'room', date), 'mix-room-20240102-030405');
  assert.equal(defaultStem('mp4', 'bob', 'room', new Date(2031, 11, 31, 23, 59, 58)), 'bob-20311231-235958');
  // A channel name with characters a file name cannot have is cleaned by recordFileName.
  assert.equal(recordFileName(undefined, defaultStem('aac', 'a', 'x/y', date), '.m4a'), 'mix-x_y-20240102-030405.m4a');
});

test('a fallback to another container renames the file, keeping its stem', () => {
  assert.equal(withExtension('bob-1.mp4', '.mp4', '.webm'), 'bob-1.webm');
  assert.equal(withExtension('mix.m4a', '.m4a', '.webm'), 'mix.webm');
  assert.equal(withExtension('odd.name', '.mp4', '.webm'), 'odd.name.webm');
});

test('each format names its extension: .mp4 for video, .m4a for audio in MP4, .webm, .ogg', () => {
  assert.equal(describeMimeType('video', 'video/mp4;codecs=avc1.64001f,opus').extension, '.mp4');
  assert.equal(describeMimeType('audio', 'audio/mp4;codecs=opus').extension, '.m4a');
  assert.equal(describeMimeType('video', 'video/webm;codecs=vp8,opus').extension, '.webm');
  assert.equal(describeMimeType('audio', 'audio/webm;codecs=opus').extension, '.webm');
  assert.equal(describeMimeType('audio', 'audio/ogg;codecs=opus').extension, '.ogg');
  const h264 = describeMimeType('video', 'video/mp4;codecs="avc3.42E01E,mp4a.40.2"');
  assert.deepEqual([h264.container, h264.videoCodec, h264.audioCodec], ['mp4', 'h264', 'aac']);
});

const realRecorder = globalThis.MediaRecorder;
afterEach(() => {
  globalThis.MediaRecorder = realRecorder;
});

/** @param {string[]} supported MIME types a pretend MediaRecorder records */
function pretendBrowser(supported) {
  globalThis.MediaRecorder = /** @type {any} */ (
    class {
      /** @param {string} type */
      static isTypeSupported(type) {
        return supported.includes(type);
      }
    }
  );
}

test('formats: what this browser records decides the container and so the extension', () => {
  // Chromium here: MP4 with VP9 or H.264 (avc1), no AAC, and every WebM.
  pretendBrowser(['video/mp4;codecs=vp9,opus', 'video/mp4', 'audio/mp4;codecs=opus', 'video/webm;codecs=vp8,opus', 'audio/webm;codecs=opus']);
  assert.equal(pickFormat('video')?.mimeType, 'video/mp4;codecs=vp9,opus');
  assert.equal(pickFormat('video')?.extension, '.mp4');
  assert.equal(pickFormat('audio')?.extension, '.m4a');
  assert.equal(pickFormat('video', { format: 'webm' })?.extension, '.webm');
  assert.deepEqual(
    recordFormats('video').map((f) => f.extension),
    ['.mp4', '.mp4', '.webm'],
  );
  // Firefox: WebM and Ogg only.
  pretendBrowser(['video/webm;codecs=vp8,opus', 'audio/webm;codecs=opus', 'audio/ogg;codecs=opus']);
  assert.equal(pickFormat('video')?.extension, '.webm');
  assert.equal(pickFormat('audio')?.extension, '.webm');
  assert.equal(pickFormat('video', { format: 'mp4' }), null);
  // No MediaRecorder at all.
  globalThis.MediaRecorder = /** @type {any} */ (undefined);
  assert.equal(pickFormat('video'), null);
});
