// Give a fragmented MP4 recorded with a timeslice its real duration in the header, while it streams.
//
// Chromium's MediaRecorder writes MP4 as fragments: `ftyp`, `moov` (written before any media, so
// `mvhd` says duration 0 and each `tkhd`/`mdhd` says the first fragment's length), then
// `moof`+`mdat` pairs and a closing `mfra` index. This module:
//
//  1. rewrites `moov` once on its way through, adding a `mehd` (movie extends header, 64-bit
//     fragment duration) to `mvex` when it has none, and notes where each duration field is;
//  2. passes the fragments through unchanged, parsing only each `moof` (a few hundred bytes) to
//     learn how far each track's samples reach;
//  3. at the end returns fixed-size patches for `mvhd`, `mehd`, every `tkhd` and `mdhd`.
//
// It also puts the Opus track's pre-skip right. Chromium's MP4 muxer writes 3840 samples (80 ms) in
// `dOps` whatever the encoder's delay, which is libopus's lookahead, 312 samples at 48 kHz (measured: a
// tone written from the first sample decodes from sample 316 on). A decoder drops pre-skip samples at
// the start, so the header cost every file its first 73.5 ms of audio, and the audio decoded that much
// shorter than the video (issue 13). The WebM muxer writes the same encoder's stream with a pre-skip of 0.
//
// The caller writes what `push()` returns and applies `finish().patches` (seek and overwrite; the
// file's length does not change). Anything unexpected turns the fixer into a pass-through.
//
// Box layouts: ISO/IEC 14496-12 (ISO base media file format). The streaming around the parser
// (holding the header, pass-through) is stream-fixer.js's.

import { StreamFixer, concat } from './stream-fixer.js';

const MAX_HEADER_BYTES = 4 << 20;
const MAX_MOOF_BYTES = 4 << 20;
/** The pre-skip Chromium writes in `dOps`, whatever its Opus encoder's delay. */
const CHROMIUM_OPUS_PRE_SKIP = 3840;
/** libopus's lookahead at 48 kHz (2.5 ms + 4 ms of delay compensation): the encoder's real delay. */
const OPUS_LOOKAHEAD = 312;
/** Bytes between an audio sample entry's header and its child boxes (ISO/IEC 14496-12, AudioSampleEntry). */
const AUDIO_SAMPLE_ENTRY_FIELDS = 28;

/** @typedef {import('./stream-fixer.js').Patch} Patch */
/** @typedef {import('./stream-fixer.js').FinishResult} FinishResult */

/**
 * @typedef {object} TrackInfo
 * @property {number} timescale mdhd timescale
 * @property {number} tkhdAt output offset of the tkhd duration field
 * @property {number} tkhdWidth 4 or 8 bytes
 * @property {number} mdhdAt output offset of the mdhd duration field
 * @property {number} mdhdWidth 4 or 8 bytes
 * @property {number} defaultDuration trex default_sample_duration
 * @property {number} end how far the samples reach, in timescale units
 */

/** @param {string} type @returns {number[]} */
const fourcc = (type) => Array.from(type, (c) => c.charCodeAt(0));

/**
 * @param {DataView} view
 * @param {number} offset
 * @param {number} end
 * @returns {{type: string, size: number, headerLength: number} | null}
 */
function readBoxHeader(view, offset, end) {
  if (offset + 8 > end) return null;
  let size = view.getUint32(offset);
  const type = String.fromCharCode(
    view.getUint8(offset + 4),
    view.getUint8(offset + 5),
    view.getUint8(offset + 6),
    view.getUint8(offset + 7),
  );
  let headerLength = 8;
  if (size === 1) {
    if (offset + 16 > end) return null;
    size = Number(view.getBigUint64(offset + 8));
    headerLength = 16;
  } else if (size === 0) {
    size = Infinity; // to the end of the file
  }
  if (size < headerLength) throw new Error(`bad ${type} box size`);
  return { type, size, headerLength };
}

/**
 * @param {number} value
 * @param {number} width 4 or 8
 * @returns {Uint8Array<ArrayBuffer>}
 */
function uintField(value, width) {
  const out = new Uint8Array(width);
  const view = new DataView(out.buffer);
  if (width === 8) view.setBigUint64(0, BigInt(Math.round(value)));
  else view.setUint32(0, Math.min(Math.round(value), 0xffffffff));
  return out;
}

/** Streaming fragmented-MP4 fixer; see the module comment. */
export class Mp4Fixer extends StreamFixer {
  #movieTimescale = 1000;
  #mvhdAt = -1;
  #mvhdWidth = 4;
  #mehdAt = -1;
  #mvhdDuration = 0;
  /** how many bytes the rewritten moov grew: later absolute offsets (mfra) shift by this much */
  #shift = 0;
  /** @type {Patch[]} fixes of absolute offsets found on the way (tfra moof_offset) */
  #offsetPatches = [];
  /** @type {Map<number, TrackInfo>} by track_ID */
  #tracks = new Map();
  #fragments = 0;
  /**
   * The last fragment read, counted once its mdat is whole (the next box's start says so, or finish());
   * cutIncomplete() drops a fragment the bytes end in.
   * @type {{start: number, ends: [TrackInfo, number][], mdatEnd: number | null} | null}
   */
  #pendingFragment = null;
  // Top-level box scanner (after moov):
  /** output offset of the top-level box being read or skipped */
  #boxAt = 0;
  /** @type {number[]} */
  #acc = [];
  /** @type {Uint8Array<ArrayBuffer>[] | null} a moof or mfra being collected */
  #moof = null;
  #moofAt = 0;
  #moofNeed = 0;
  #moofHave = 0;

  constructor() {
    super('MP4', MAX_HEADER_BYTES);
  }

  /**
   * @override
   * @protected
   * @param {number | null} fallbackSeconds a duration to use if the fragments could not be timed
   * @returns {FinishResult}
   */
  finishFixed(fallbackSeconds) {
    this.#commitFragment();
    if (this.#fragments === 0 || this.scanFailed) {
      // A plain MP4 (moov written last, durations right) or a scan we could not finish.
      const known = this.#mvhdDuration > 0 ? this.#mvhdDuration / this.#movieTimescale : fallbackSeconds;
      return { tail: [], patches: [], duration: known, fixed: this.#fragments === 0 };
    }
    /** @type {Patch[]} */
    const patches = [...this.#offsetPatches];
    let movie = 0;
    for (const track of this.#tracks.values()) {
      if (!track.timescale) continue;
      const inMovie = (track.end / track.timescale) * this.#movieTimescale;
      movie = Math.max(movie, inMovie);
      patches.push({ position: track.mdhdAt, data: uintField(track.end, track.mdhdWidth) });
      patches.push({ position: track.tkhdAt, data: uintField(inMovie, track.tkhdWidth) });
    }
    if (this.#mvhdAt >= 0) patches.push({ position: this.#mvhdAt, data: uintField(movie, this.#mvhdWidth) });
    if (this.#mehdAt >= 0) patches.push({ position: this.#mehdAt, data: uintField(movie, 8) });
    return { tail: [], patches, duration: movie / this.#movieTimescale, fixed: true };
  }

  // --- moov --------------------------------------------------------------------------------------

  /**
   * @override
   * @protected
   * @param {Uint8Array<ArrayBuffer>} all every byte so far
   * @returns {{header: Uint8Array<ArrayBuffer>, consumed: number} | null} null until moov is complete
   */
  rewriteHeader(all) {
    const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
    for (let offset = 0; ; ) {
      const box = readBoxHeader(view, offset, all.length);
      if (!box) return null;
      if (box.type === 'moof' || box.type === 'mdat') throw new Error('media before moov: nothing to fix');
      const end = offset + box.size;
      if (end > all.length) return null;
      if (box.type === 'moov') {
        const moov = this.#rewriteMoov(all.subarray(offset, end), this.out + offset);
        return { header: concat([all.subarray(0, offset), moov]), consumed: end };
      }
      offset = end;
    }
  }

  /**
   * @param {Uint8Array<ArrayBuffer>} moov the whole moov box
   * @param {number} at its output offset
   * @returns {Uint8Array<ArrayBuffer>} the new moov
   */
  #rewriteMoov(moov, at) {
    const view = new DataView(moov.buffer, moov.byteOffset, moov.byteLength);
    const head = /** @type {NonNullable<ReturnType<typeof readBoxHeader>>} */ (readBoxHeader(view, 0, moov.length));
    /** @type {Uint8Array<ArrayBuffer>[]} */
    const children = [];
    let hasMvex = false;
    let hasMehd = false;
    for (let offset = head.headerLength; offset < moov.length; ) {
      const box = readBoxHeader(view, offset, moov.length);
      if (!box || offset + box.size > moov.length) throw new Error('truncated moov');
      let bytes = moov.subarray(offset, offset + box.size);
      if (box.type === 'mvex') {
        hasMvex = true;
        hasMehd = this.#hasChild(bytes, 'mehd');
        if (!hasMehd) bytes = this.#withMehd(bytes);
      }
      children.push(bytes);
      offset += box.size;
    }
    if (!hasMvex) throw new Error('not fragmented');
    const size = 8 + children.reduce((n, c) => n + c.length, 0);
    this.#shift = size - moov.length;
    const out = concat([new Uint8Array([...uintField(size, 4), ...fourcc('moov')]), ...children]);
    this.#index(out, at);
    return out;
  }

  /**
   * @param {Uint8Array<ArrayBuffer>} box a container box
   * @param {string} type
   * @returns {boolean} whether it has a direct child of `type`
   */
  #hasChild(box, type) {
    const view = new DataView(box.buffer, box.byteOffset, box.byteLength);
    for (let offset = 8; offset < box.length; ) {
      const child = readBoxHeader(view, offset, box.length);
      if (!child) return false;
      if (child.type === type) return true;
      offset += child.size;
    }
    return false;
  }

  /** @param {Uint8Array<ArrayBuffer>} mvex @returns {Uint8Array<ArrayBuffer>} mvex with a version-1 mehd first */
  #withMehd(mvex) {
    const mehd = new Uint8Array([0, 0, 0, 20, ...fourcc('mehd'), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const size = mvex.length + mehd.length;
    return concat([new Uint8Array([...uintField(size, 4), ...fourcc('mvex')]), mehd, mvex.subarray(8)]);
  }

  /**
   * Note where every duration field of the (rewritten) moov lands in the output; put an Opus
   * track's pre-skip right (in place: `moov` is the new copy).
   * @param {Uint8Array<ArrayBuffer>} moov
   * @param {number} at output offset of moov
   */
  #index(moov, at) {
    const view = new DataView(moov.buffer, moov.byteOffset, moov.byteLength);
    /** @type {Map<number, number>} */
    const defaults = new Map();
    /**
     * @param {number} start
     * @param {number} end
     * @param {{trackId: number, track: Partial<TrackInfo>} | null} trak
     */
    const walk = (start, end, trak) => {
      for (let offset = start; offset < end; ) {
        const box = readBoxHeader(view, offset, end);
        if (!box) throw new Error('truncated box in moov');
        const body = offset + box.headerLength;
        const version = view.getUint8(body);
        switch (box.type) {
          case 'mvhd':
            this.#movieTimescale = view.getUint32(body + (version === 1 ? 20 : 12));
            this.#mvhdAt = at + body + (version === 1 ? 24 : 16);
            this.#mvhdWidth = version === 1 ? 8 : 4;
            this.#mvhdDuration =
              version === 1 ? Number(view.getBigUint64(body + 24)) : view.getUint32(body + 16);
            break;
          case 'trak': {
            const info = { trackId: 0, track: /** @type {Partial<TrackInfo>} */ ({}) };
            walk(body, offset + box.size, info);
            if (info.trackId) {
              this.#tracks.set(info.trackId, /** @type {TrackInfo} */ ({ defaultDuration: 0, end: 0, ...info.track }));
            }
            break;
          }
          case 'tkhd':
            if (trak) {
              trak.trackId = view.getUint32(body + (version === 1 ? 20 : 12));
              trak.track.tkhdAt = at + body + (version === 1 ? 28 : 20);
              trak.track.tkhdWidth = version === 1 ? 8 : 4;
            }
            break;
          case 'mdhd':
            if (trak) {
              trak.track.timescale = view.getUint32(body + (version === 1 ? 20 : 12));
              trak.track.mdhdAt = at + body + (version === 1 ? 24 : 16);
              trak.track.mdhdWidth = version === 1 ? 8 : 4;
            }
            break;
          case 'mdia':
          case 'minf':
          case 'stbl':
          case 'mvex':
            walk(body, offset + box.size, trak);
            break;
          case 'stsd': // a full box with an entry count, then the sample entries
            walk(body + 8, offset + box.size, trak);
            break;
          case 'Opus':
            walk(body + AUDIO_SAMPLE_ENTRY_FIELDS, offset + box.size, trak);
            break;
          case 'dOps': // version, channel count, pre-skip (16 bits), ...
            if (box.size >= box.headerLength + 4 && view.getUint16(body + 2) === CHROMIUM_OPUS_PRE_SKIP) {
              view.setUint16(body + 2, OPUS_LOOKAHEAD);
            }
            break;
          case 'mehd':
            this.#mehdAt = version === 1 ? at + body + 4 : -1; // a version-0 mehd is left alone
            break;
          case 'trex':
            defaults.set(view.getUint32(body + 4), view.getUint32(body + 12));
            break;
          default:
            break;
        }
        offset += box.size;
      }
    };
    walk(8, moov.length, null);
    for (const [trackId, duration] of defaults) {
      const track = this.#tracks.get(trackId);
      if (track) track.defaultDuration = duration;
    }
  }

  // --- fragments ---------------------------------------------------------------------------------

  /**
   * Read on through the top-level boxes, parsing each moof (and an mfra to shift), skipping the rest.
   * @override
   * @protected
   * @param {Uint8Array<ArrayBuffer>} bytes
   * @param {number} at
   * @param {number} position output offset of bytes[at]
   * @returns {number}
   */
  scanFrom(bytes, at, position) {
    let i = at;
    if (this.#moof) {
      const n = Math.min(this.#moofNeed - this.#moofHave, bytes.length - i);
      this.#moof.push(bytes.subarray(i, i + n));
      this.#moofHave += n;
      i += n;
      if (this.#moofHave === this.#moofNeed) {
        const box = concat(this.#moof);
        if (box[4] === 0x6d && box[5] === 0x6f) this.#onMoof(box, this.#moofAt);
        else this.#onMfra(box, this.#moofAt);
        this.#moof = null;
      }
      return i;
    }
    // Collect a box header, a byte at a time: 8 bytes, 16 with a 64-bit size.
    const start = position - this.#acc.length;
    this.#acc.push(bytes[i++]);
    if (this.#acc.length < 8) return i;
    const head = Uint8Array.from(this.#acc);
    const box = readBoxHeader(new DataView(head.buffer), 0, head.length);
    if (!box) return i; // a 64-bit size: wait for 16 bytes
    this.#acc = [];
    this.#boxAt = start;
    const fragment = this.#pendingFragment;
    if (fragment && box.type === 'mdat' && fragment.mdatEnd === null) fragment.mdatEnd = start + box.size;
    else if (fragment && (fragment.mdatEnd === null || start >= fragment.mdatEnd)) this.#commitFragment();
    if (box.type === 'moof' || (box.type === 'mfra' && this.#shift !== 0)) {
      if (box.size > MAX_MOOF_BYTES) throw new Error(`${box.type} too large`);
      this.#moofAt = start;
      this.#moof = [head];
      this.#moofNeed = box.size;
      this.#moofHave = head.length;
    } else {
      this.skip(box.size - box.headerLength); // mdat, mfra, free...: Infinity for "to the end"
    }
    return i;
  }

  /**
   * The random-access index at the end names moofs by absolute offset: shift them like the moov grew.
   * @param {Uint8Array<ArrayBuffer>} mfra the whole mfra box
   * @param {number} at its output offset
   */
  #onMfra(mfra, at) {
    const view = new DataView(mfra.buffer, mfra.byteOffset, mfra.byteLength);
    for (let offset = 8; offset < mfra.length; ) {
      const box = readBoxHeader(view, offset, mfra.length);
      if (!box) break;
      if (box.type === 'tfra') {
        const body = offset + box.headerLength;
        const wide = view.getUint8(body) === 1;
        const sizes = view.getUint32(body + 8);
        const entryRest = ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3;
        const count = view.getUint32(body + 12);
        const width = wide ? 8 : 4;
        let field = body + 16 + width; // skip `time` to `moof_offset`
        for (let e = 0; e < count && field + width <= offset + box.size; e++) {
          const value = wide ? Number(view.getBigUint64(field)) : view.getUint32(field);
          this.#offsetPatches.push({ position: at + field, data: uintField(value + this.#shift, width) });
          field += 2 * width + entryRest;
        }
      }
      offset += box.size;
    }
  }

  /** @param {Uint8Array<ArrayBuffer>} moof the whole moof box */
  /**
   * @param {Uint8Array<ArrayBuffer>} moof the whole moof box
   * @param {number} at its output offset
   */
  #onMoof(moof, at) {
    this.#fragments += 1;
    this.#commitFragment();
    const view = new DataView(moof.buffer, moof.byteOffset, moof.byteLength);
    /** @type {[TrackInfo, number][]} */
    const ends = [];
    for (let offset = 8; offset < moof.length; ) {
      const box = readBoxHeader(view, offset, moof.length);
      if (!box) break;
      const reach = box.type === 'traf' ? this.#onTraf(view, offset + box.headerLength, offset + box.size) : null;
      if (reach) ends.push(reach);
      offset += box.size;
    }
    this.#pendingFragment = { start: at, ends, mdatEnd: null };
  }

  /** The last fragment read is whole: how far its samples reach counts. */
  #commitFragment() {
    const fragment = this.#pendingFragment;
    if (!fragment) return;
    this.#pendingFragment = null;
    for (const [track, end] of fragment.ends) track.end = Math.max(track.end, end);
  }

  /**
   * The recording was cut short (a crashed page's journal, see journal.js): drop the fragment (moof
   * and mdat) or box the bytes end in the middle of, so the file ends on whole samples. Call before finish().
   * @returns {number} the length to cut the output to (at most what push() handed out)
   */
  cutIncomplete() {
    if (!this.rewriting || this.scanFailed) return this.out;
    let end = this.out;
    if (this.#moof || this.skipping > 0) end = this.#boxAt;
    else if (this.#acc.length > 0) end = this.out - this.#acc.length;
    const fragment = this.#pendingFragment;
    if (fragment && (fragment.mdatEnd === null || fragment.mdatEnd > end)) {
      end = Math.min(end, fragment.start);
      this.#pendingFragment = null;
    }
    this.#commitFragment();
    this.truncateOutput(end);
    this.skip(0);
    this.#acc = [];
    this.#moof = null;
    return this.out;
  }

  /**
   * @param {DataView} view
   * @param {number} start
   * @param {number} end
   * @returns {[TrackInfo, number] | null} the track and how far this fragment's samples of it reach
   */
  #onTraf(view, start, end) {
    let track = /** @type {TrackInfo | undefined} */ (undefined);
    let defaultDuration = 0;
    let base = -1;
    let total = 0;
    for (let offset = start; offset < end; ) {
      const box = readBoxHeader(view, offset, end);
      if (!box) break;
      const body = offset + box.headerLength;
      const version = view.getUint8(body);
      const flags = view.getUint32(body) & 0xffffff;
      if (box.type === 'tfhd') {
        track = this.#tracks.get(view.getUint32(body + 4));
        defaultDuration = track?.defaultDuration ?? 0;
        let field = body + 8;
        if (flags & 0x01) field += 8; // base_data_offset
        if (flags & 0x02) field += 4; // sample_description_index
        if (flags & 0x08) defaultDuration = view.getUint32(field);
      } else if (box.type === 'tfdt') {
        base = version === 1 ? Number(view.getBigUint64(body + 4)) : view.getUint32(body + 4);
      } else if (box.type === 'trun') {
        const count = view.getUint32(body + 4);
        let field = body + 8;
        if (flags & 0x01) field += 4; // data_offset
        if (flags & 0x04) field += 4; // first_sample_flags
        const perSample = [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length * 4;
        if (flags & 0x100) {
          for (let s = 0; s < count; s++) total += view.getUint32(field + s * perSample);
        } else {
          total += count * defaultDuration;
        }
      }
      offset += box.size;
    }
    if (!track) return null;
    const from = base >= 0 ? base : track.end;
    return [track, from + total];
  }
}
