// Recording capabilities, checked in one place: which container and codecs MediaRecorder can
// produce here, and whether files can be streamed to disk (File System Access API).
//
// Chromium records `video/mp4` (H.264 or VP9 + Opus), `audio/mp4;codecs=opus` and every WebM
// variant; AAC (`mp4a.40.2`) only where the platform has an AAC encoder. Firefox records WebM and
// Ogg; Safari records MP4 with H.264 + AAC.

/**
 * @typedef {object} RecordFormat
 * @property {string} mimeType what MediaRecorder is asked for, e.g. 'video/mp4;codecs=avc1,opus'
 * @property {'mp4'|'webm'|'ogg'} container
 * @property {string} extension the file extension, with its dot: '.mp4', '.m4a', '.webm', '.ogg'
 * @property {string|null} videoCodec 'h264' | 'vp9' | 'vp8' | 'av1' | null (audio only, or unknown)
 * @property {string|null} audioCodec 'aac' | 'opus' | null (unknown)
 */

/** @typedef {'video'|'audio'} RecordMedia */

/**
 * Candidates in order of preference. MP4 with H.264 plays nearly everywhere; VP9 in MP4 next; WebM last.
 * A bare 'video/mp4' lets the browser pick its codecs (then the real ones come from recorder.mimeType).
 * @type {Record<RecordMedia, Omit<RecordFormat, 'extension'>[]>}
 */
const CANDIDATES = {
  video: [
    // avc3 (parameter sets in-band), not avc1: a call's resolution changes while it records.
    { mimeType: 'video/mp4;codecs=avc3,mp4a.40.2', container: 'mp4', videoCodec: 'h264', audioCodec: 'aac' },
    { mimeType: 'video/mp4;codecs=avc3,opus', container: 'mp4', videoCodec: 'h264', audioCodec: 'opus' },
    { mimeType: 'video/mp4;codecs=vp9,opus', container: 'mp4', videoCodec: 'vp9', audioCodec: 'opus' },
    { mimeType: 'video/mp4', container: 'mp4', videoCodec: null, audioCodec: null },
    { mimeType: 'video/webm;codecs=vp9,opus', container: 'webm', videoCodec: 'vp9', audioCodec: 'opus' },
    { mimeType: 'video/webm;codecs=vp8,opus', container: 'webm', videoCodec: 'vp8', audioCodec: 'opus' },
    { mimeType: 'video/webm', container: 'webm', videoCodec: null, audioCodec: null },
  ],
  audio: [
    { mimeType: 'audio/mp4;codecs=mp4a.40.2', container: 'mp4', videoCodec: null, audioCodec: 'aac' },
    { mimeType: 'audio/mp4;codecs=opus', container: 'mp4', videoCodec: null, audioCodec: 'opus' },
    { mimeType: 'audio/webm;codecs=opus', container: 'webm', videoCodec: null, audioCodec: 'opus' },
    { mimeType: 'audio/webm', container: 'webm', videoCodec: null, audioCodec: null },
    { mimeType: 'audio/ogg;codecs=opus', container: 'ogg', videoCodec: null, audioCodec: 'opus' },
  ],
};

/**
 * @param {RecordMedia} media
 * @param {'mp4'|'webm'|'ogg'} container
 * @returns {string}
 */
function extensionFor(media, container) {
  if (container === 'mp4') return media === 'audio' ? '.m4a' : '.mp4';
  return `.${container}`;
}

/** @returns {boolean} whether this browser has MediaRecorder at all */
export function canRecord() {
  return typeof globalThis.MediaRecorder === 'function' && typeof MediaRecorder.isTypeSupported === 'function';
}

/**
 * The best format this browser records for `media`, or null.
 * @param {RecordMedia} media 'video' (audio + video) or 'audio'
 * @param {{format?: 'mp4'|'webm'|'ogg'}} [options] `format`: only this container
 * @returns {RecordFormat | null}
 */
export function pickFormat(media, { format } = {}) {
  return recordFormats(media, { format })[0] ?? null;
}

/**
 * Every format this browser says it records for `media`, best first: the recorder tries them in
 * this order when an encoder refuses to start (e.g. H.264 at a bit rate beyond its level).
 * @param {RecordMedia} media 'video' (audio + video) or 'audio'
 * @param {{format?: 'mp4'|'webm'|'ogg'}} [options] `format`: only this container
 * @returns {RecordFormat[]}
 */
export function recordFormats(media, { format } = {}) {
  if (!canRecord()) return [];
  return CANDIDATES[media]
    .filter((candidate) => !format || candidate.container === format)
    .filter((candidate) => MediaRecorder.isTypeSupported(candidate.mimeType))
    .map((candidate) => ({ ...candidate, extension: extensionFor(media, candidate.container) }));
}

/**
 * Describe what a MediaRecorder actually produces (its `mimeType` after start), which may name
 * codecs the request left open.
 * @param {RecordMedia} media
 * @param {string} mimeType e.g. 'video/mp4;codecs=vp9,opus'
 * @returns {RecordFormat}
 */
export function describeMimeType(media, mimeType) {
  const lower = mimeType.toLowerCase();
  /** @type {'mp4'|'webm'|'ogg'} */
  const container = lower.includes('webm') ? 'webm' : lower.includes('ogg') ? 'ogg' : 'mp4';
  const codecs = /codecs="?([^";]*)"?/u.exec(lower)?.[1] ?? '';
  const has = (/** @type {RegExp} */ re) => codecs.split(',').some((c) => re.test(c.trim()));
  const videoCodec =
    media === 'audio'
      ? null
      : has(/^(avc1|avc3|h264)/u)
        ? 'h264'
        : has(/^(vp9|vp09)/u)
          ? 'vp9'
          : has(/^vp8/u)
            ? 'vp8'
            : has(/^av01/u)
              ? 'av1'
              : null;
  const audioCodec = has(/^(mp4a|aac)/u) ? 'aac' : has(/^opus/u) ? 'opus' : null;
  return { mimeType, container, extension: extensionFor(media, container), videoCodec, audioCodec };
}

/** @returns {string[]} every candidate MIME type this browser can record, best first */
export function supportedRecordTypes() {
  if (!canRecord()) return [];
  return [...CANDIDATES.video, ...CANDIDATES.audio]
    .map((c) => c.mimeType)
    .filter((t) => MediaRecorder.isTypeSupported(t));
}

/** @returns {boolean} whether a save-as dialog can stream a file to disk (File System Access API) */
export function canPickFile() {
  return typeof (/** @type {any} */ (globalThis).showSaveFilePicker) === 'function';
}

/** @returns {boolean} whether this page may ask for a folder (showDirectoryPicker; not in cross-origin frames) */
export function canPickFolder() {
  return typeof (/** @type {any} */ (globalThis).showDirectoryPicker) === 'function';
}

/**
 * Whether `value` is a file handle we can stream into (FileSystemFileHandle, e.g. from the
 * origin-private file system or a save-as dialog).
 * @param {unknown} value
 * @returns {value is FileSystemFileHandle}
 */
export function isWritableFileHandle(value) {
  return (
    typeof value === 'object' &&
    value !== null &&
    /** @type {any} */ (value).kind === 'file' &&
    typeof (/** @type {any} */ (value).createWritable) === 'function'
  );
}

/**
 * Whether insertable streams carry audio too (AudioData): the recorder then feeds its audio track
 * on the wall clock (record-sources.js AudioRelay) instead of through WebAudio.
 * @returns {boolean}
 */
export function canRelayAudioFrames() {
  const g = /** @type {any} */ (globalThis);
  return canRelayVideoFrames() && typeof g.AudioData === 'function';
}

/**
 * Whether the insertable-streams API (MediaStreamTrackProcessor / MediaStreamTrackGenerator) is
 * here: the recorder uses it to feed a stable video track from a member's changing tracks.
 * @returns {boolean}
 */
export function canRelayVideoFrames() {
  const g = /** @type {any} */ (globalThis);
  return typeof g.MediaStreamTrackProcessor === 'function' && typeof g.MediaStreamTrackGenerator === 'function';
}
