// Make a WebM recorded with a timeslice seekable, while it streams.
//
// Chromium's MediaRecorder writes WebM in "live" mode when it hands out data as it goes: the
// Segment and every Cluster have an unknown size, Info has no Duration, and there are no Cues. A
// player then shows no duration and cannot seek. This module fixes that without holding the
// recording in memory:
//
//  1. The header (EBML header, Segment start, Info, Tracks; everything before the first Cluster)
//     is rewritten once on its way through: a Void element is reserved for a SeekHead at the start
//     of the Segment, and Info gets an 11-byte Void where the Duration will go.
//  2. Clusters are passed through unchanged while a small streaming scanner notes each cluster's
//     position and timecode, video keyframes and the last block time of each track.
//  3. At the end, Cues (one per keyframe cluster) are appended, and fixed-size patches overwrite
//     the reserved Voids (Duration; SeekHead pointing to Info, Tracks, Cues) and the Segment size.
//
// The caller writes the bytes `push()` returns, appends `finish().tail` and applies
// `finish().patches` (seek and overwrite; none changes the file's length). Anything unexpected
// turns the fixer into a pass-through: a file is never made worse than the browser's own.
//
// Element ids and layout: Matroska/WebM specification (RFC 9559). The streaming around the parser
// (holding the header, pass-through) is stream-fixer.js's.

import { StreamFixer } from './stream-fixer.js';

const ID = Object.freeze({
  EBML: 0x1a45dfa3,
  SEGMENT: 0x18538067,
  SEEK_HEAD: 0x114d9b74,
  SEEK: 0x4dbb,
  SEEK_ID: 0x53ab,
  SEEK_POSITION: 0x53ac,
  INFO: 0x1549a966,
  TIMECODE_SCALE: 0x2ad7b1,
  DURATION: 0x4489,
  TRACKS: 0x1654ae6b,
  TRACK_ENTRY: 0xae,
  TRACK_NUMBER: 0xd7,
  TRACK_TYPE: 0x83,
  CLUSTER: 0x1f43b675,
  TIMECODE: 0xe7,
  SIMPLE_BLOCK: 0xa3,
  BLOCK_GROUP: 0xa0,
  BLOCK: 0xa1,
  CUES: 0x1c53bb6b,
  CUE_POINT: 0xbb,
  CUE_TIME: 0xb3,
  CUE_TRACK_POSITIONS: 0xb7,
  CUE_TRACK: 0xf7,
  CUE_CLUSTER_POSITION: 0xf1,
  VOID: 0xec,
  TAGS: 0x1254c367,
  CHAPTERS: 0x1043a770,
  ATTACHMENTS: 0x1941a469,
});

/** @type {Set<number>} Top-level (Segment children) ids: one of these ends a Cluster of unknown size. */
const SEGMENT_CHILDREN = new Set([
  ID.CLUSTER,
  ID.CUES,
  ID.TAGS,
  ID.CHAPTERS,
  ID.ATTACHMENTS,
  ID.SEEK_HEAD,
  ID.INFO,
  ID.TRACKS,
]);

/** Bytes reserved for the SeekHead written at the end (3 entries need 68). */
const SEEK_HEAD_RESERVED = 80;
/** Bytes of a Duration element with an 8-byte float: id (2) + size (1) + value (8). */
const DURATION_BYTES = 11;
/** Give up rewriting the header if no Cluster starts within this many bytes. */
const MAX_HEADER_BYTES = 1 << 20;
const UNKNOWN = -1;

/** @typedef {import('./stream-fixer.js').Patch} Patch */
/** @typedef {import('./stream-fixer.js').FinishResult} FinishResult */

/**
 * Read an EBML variable-length integer.
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {number} offset
 * @param {boolean} [keepMarker] keep the length marker (element ids keep it)
 * @returns {{value: number, length: number} | null} null if `bytes` ends first; value UNKNOWN for "unknown size"
 */
function readVint(bytes, offset, keepMarker = false) {
  if (offset >= bytes.length) return null;
  const first = bytes[offset];
  let length = 1;
  let mask = 0x80;
  while (length <= 8 && !(first & mask)) {
    mask >>= 1;
    length += 1;
  }
  if (length > 8) throw new Error('invalid EBML vint');
  if (offset + length > bytes.length) return null;
  let value = keepMarker ? first : first & (mask - 1);
  let allOnes = (first & (mask - 1)) === mask - 1;
  for (let i = 1; i < length; i++) {
    value = value * 256 + bytes[offset + i];
    if (bytes[offset + i] !== 0xff) allOnes = false;
  }
  if (!keepMarker && allOnes) return { value: UNKNOWN, length };
  return { value, length };
}

/**
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {number} offset
 * @returns {{id: number, size: number, headerLength: number} | null}
 */
function readElementHeader(bytes, offset) {
  const id = readVint(bytes, offset, true);
  if (!id) return null;
  if (id.length > 4) throw new Error('invalid EBML id');
  const size = readVint(bytes, offset + id.length);
  if (!size) return null;
  return { id: id.value, size: size.value, headerLength: id.length + size.length };
}

/**
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {number} offset
 * @param {number} length
 * @returns {number}
 */
function readUint(bytes, offset, length) {
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + bytes[offset + i];
  return value;
}

/** @param {number} id @returns {number[]} the id's bytes (ids keep their length marker) */
function idBytes(id) {
  const out = [];
  for (let v = id; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  return out;
}

/**
 * Encode a size as a vint of `width` bytes (default: the shortest).
 * @param {number} size
 * @param {number} [width]
 * @returns {number[]}
 */
function sizeBytes(size, width = 0) {
  let length = 1;
  while (size >= 2 ** (7 * length) - 1) length += 1;
  length = Math.max(length, width);
  const out = new Array(length).fill(0);
  let v = size;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  out[0] |= 0x80 >> (length - 1);
  return out;
}

/** @param {number} value @returns {number[]} a uint in the fewest bytes (at least one) */
function uintBytes(value) {
  const out = [];
  let v = value;
  do {
    out.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return out;
}

/** @param {number} value @param {number} width @returns {number[]} */
function uintBytesFixed(value, width) {
  const out = new Array(width).fill(0);
  let v = value;
  for (let i = width - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

/**
 * @param {number} id
 * @param {ArrayLike<number>} payload
 * @param {number} [sizeWidth]
 * @returns {number[]}
 */
function element(id, payload, sizeWidth = 0) {
  return [...idBytes(id), ...sizeBytes(payload.length, sizeWidth), ...Array.from(payload)];
}

/** @param {number} total @returns {number[]} a Void element of exactly `total` bytes (total >= 2) */
function voidElement(total) {
  // One size byte covers up to 126 payload bytes: enough for every reservation here.
  if (total < 2 || total > 128) throw new Error('void size out of range');
  return [ID.VOID, ...sizeBytes(total - 2, 1), ...new Array(total - 2).fill(0)];
}

/** Streaming WebM fixer; see the module comment. */
export class WebmFixer extends StreamFixer {
  // Header layout in the output:
  #segmentSizeAt = -1;
  #segmentDataStart = 0;
  #seekHeadAt = 0;
  #durationAt = 0;
  #infoPosition = 0;
  #tracksPosition = 0;
  #timecodeScale = 1_000_000;
  /** @type {Map<number, number>} track number -> track type (1 video, 2 audio) */
  #trackTypes = new Map();
  #cueTrack = 0;
  // Scanner state (output offsets):
  /** @type {number[]} bytes of an element header being collected */
  #acc = [];
  /** what the collected bytes are for: an element header, or the first bytes of a payload */
  #accFor = /** @type {'header'|'payload'} */ ('header');
  #accNeed = 0;
  #accElementId = 0;
  #accElementRest = 0;
  #inCluster = false;
  #clusterEnd = Infinity;
  #blockGroupEnd = Infinity;
  #blockGroupStart = 0;
  /** output offset of the element whose payload is being collected or skipped */
  #elementStart = 0;
  #clusterPosition = 0;
  #clusterTimecode = 0;
  #clusterCued = false;
  /** @type {{time: number, position: number}[]} */
  #cues = [];
  /**
   * Per track, in timecode units: the last block's time, and the shortest gap between two blocks
   * (Infinity until there are two): how long a block lasts, a dropped frame or two notwithstanding.
   * @type {Map<number, {last: number, gap: number}>}
   */
  #lastTimes = new Map();
  /** output offset where the (Simple)Block being read ends */
  #blockEnd = 0;
  /** @type {{track: number, time: number, cue: {time: number, position: number} | null, end: number} | null} the last block read, until it is known whole */
  #pendingBlock = null;

  constructor() {
    super('WebM', MAX_HEADER_BYTES);
  }

  /**
   * @override
   * @protected
   * @param {number | null} fallbackSeconds a duration to use if the blocks could not be timed
   * @returns {FinishResult}
   */
  finishFixed(fallbackSeconds) {
    this.#commitBlock();
    let end = 0;
    for (const { last, gap } of this.#lastTimes.values()) {
      // The last block lasts about as long as the shortest gap (frames and audio packets are regular).
      const frame = gap === Infinity ? 0 : Math.min(gap, 1_000_000_000 / this.#timecodeScale);
      end = Math.max(end, last + frame);
    }
    const scale = this.#timecodeScale / 1e9;
    const measured = !this.scanFailed && this.#lastTimes.size > 0;
    const duration = measured ? end : fallbackSeconds !== null ? fallbackSeconds / scale : null;

    /** @type {Uint8Array<ArrayBuffer>[]} */
    const tail = [];
    /** @type {Patch[]} */
    const patches = [];
    let cuesPosition = -1;
    if (!this.scanFailed && this.#cues.length > 0) {
      cuesPosition = this.out - this.#segmentDataStart;
      tail.push(this.#cuesElement());
    }
    const fileEnd = this.out + tail.reduce((n, t) => n + t.length, 0);
    if (duration !== null) {
      const value = new Uint8Array(8);
      new DataView(value.buffer).setFloat64(0, duration);
      patches.push({ position: this.#durationAt, data: new Uint8Array(element(ID.DURATION, value)) });
    }
    patches.push({ position: this.#seekHeadAt, data: this.#seekHead(cuesPosition) });
    if (this.#segmentSizeAt >= 0) {
      patches.push({
        position: this.#segmentSizeAt,
        data: new Uint8Array(sizeBytes(fileEnd - this.#segmentDataStart, 8)),
      });
    }
    return { tail, patches, duration: duration === null ? null : duration * scale, fixed: true };
  }

  /**
   * The recording was cut short (a crashed page's journal, see journal.js): drop the element the
   * bytes end in the middle of, so the file ends on a whole block. Call before finish().
   * @returns {number} the length to cut the output to (at most what push() handed out)
   */
  cutIncomplete() {
    if (!this.rewriting || this.scanFailed) return this.out;
    let end = this.out;
    if (this.skipping > 0 || this.#accFor === 'payload') end = this.#elementStart;
    else if (this.#acc.length > 0) end = this.out - this.#acc.length;
    if (this.#blockGroupEnd !== Infinity && this.#blockGroupEnd > end) end = Math.min(end, this.#blockGroupStart);
    this.truncateOutput(Math.max(end, this.#segmentDataStart));
    if (this.#pendingBlock && this.#pendingBlock.end > this.out) this.#pendingBlock = null; // cut off
    this.#commitBlock();
    this.skip(0);
    this.#acc = [];
    this.#accFor = 'header';
    this.#blockGroupEnd = Infinity;
    return this.out;
  }

  // --- header ------------------------------------------------------------------------------------

  /**
   * @override
   * @protected
   * @param {Uint8Array<ArrayBuffer>} all every byte so far
   * @returns {{header: Uint8Array<ArrayBuffer>, consumed: number} | null} null until the first Cluster shows
   */
  rewriteHeader(all) {
    const ebml = readElementHeader(all, 0);
    if (!ebml) return null;
    if (ebml.id !== ID.EBML || ebml.size === UNKNOWN) throw new Error('not a WebM file');
    const segmentAt = ebml.headerLength + ebml.size;
    const segment = readElementHeader(all, segmentAt);
    if (!segment) return null;
    if (segment.id !== ID.SEGMENT) throw new Error('no Segment after the EBML header');
    if (segment.size !== UNKNOWN) throw new Error('Segment of known size: nothing to fix');
    /** @type {{id: number, bytes: Uint8Array<ArrayBuffer>}[]} */
    const children = [];
    let offset = segmentAt + segment.headerLength;
    for (;;) {
      const child = readElementHeader(all, offset);
      if (!child) return null;
      if (child.id === ID.CLUSTER) break;
      if (child.size === UNKNOWN) throw new Error('header element of unknown size');
      const end = offset + child.headerLength + child.size;
      if (end > all.length) return null;
      children.push({ id: child.id, bytes: all.subarray(offset, end) });
      offset = end;
    }
    const info = children.find((c) => c.id === ID.INFO);
    const tracks = children.find((c) => c.id === ID.TRACKS);
    if (!info || !tracks) throw new Error('no Info or Tracks before the first Cluster');
    const infoChildren = this.#parseInfo(info.bytes);
    if (infoChildren === null) throw new Error('Info already has a Duration');
    this.#parseTracks(tracks.bytes);

    /** @type {number[]} */
    const out = [...all.subarray(0, segmentAt)];
    out.push(...idBytes(ID.SEGMENT));
    this.#segmentSizeAt = this.out + out.length;
    out.push(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff); // unknown size, 8 bytes wide: patched at the end
    this.#segmentDataStart = this.out + out.length;
    this.#seekHeadAt = this.out + out.length;
    out.push(...voidElement(SEEK_HEAD_RESERVED));
    for (const child of children) {
      if (child.id === ID.SEEK_HEAD || child.id === ID.VOID || child.id === ID.CUES) continue;
      if (child.id === ID.INFO) {
        this.#infoPosition = this.out + out.length - this.#segmentDataStart;
        const payload = [...infoChildren, ...voidElement(DURATION_BYTES)];
        const head = [...idBytes(ID.INFO), ...sizeBytes(payload.length, 8)];
        this.#durationAt = this.out + out.length + head.length + infoChildren.length;
        out.push(...head, ...payload);
      } else {
        if (child.id === ID.TRACKS) this.#tracksPosition = this.out + out.length - this.#segmentDataStart;
        out.push(...child.bytes);
      }
    }
    return { header: new Uint8Array(out), consumed: offset };
  }

  /**
   * @param {Uint8Array<ArrayBuffer>} info the whole Info element
   * @returns {number[] | null} its children without Voids; null if it has a Duration already
   */
  #parseInfo(info) {
    const head = /** @type {NonNullable<ReturnType<typeof readElementHeader>>} */ (readElementHeader(info, 0));
    /** @type {number[]} */
    const kept = [];
    for (let offset = head.headerLength; offset < info.length; ) {
      const child = readElementHeader(info, offset);
      if (!child || child.size === UNKNOWN) throw new Error('bad Info');
      const end = offset + child.headerLength + child.size;
      if (child.id === ID.DURATION) return null;
      if (child.id === ID.TIMECODE_SCALE) {
        this.#timecodeScale = readUint(info, offset + child.headerLength, child.size);
      }
      if (child.id !== ID.VOID) kept.push(...info.subarray(offset, end));
      offset = end;
    }
    return kept;
  }

  /** @param {Uint8Array<ArrayBuffer>} tracks the whole Tracks element */
  #parseTracks(tracks) {
    const head = /** @type {NonNullable<ReturnType<typeof readElementHeader>>} */ (readElementHeader(tracks, 0));
    for (let offset = head.headerLength; offset < tracks.length; ) {
      const entry = readElementHeader(tracks, offset);
      if (!entry || entry.size === UNKNOWN) throw new Error('bad Tracks');
      const end = offset + entry.headerLength + entry.size;
      if (entry.id === ID.TRACK_ENTRY) {
        let number = 0;
        let type = 0;
        for (let o = offset + entry.headerLength; o < end; ) {
          const field = readElementHeader(tracks, o);
          if (!field || field.size === UNKNOWN) throw new Error('bad TrackEntry');
          const value = o + field.headerLength;
          if (field.id === ID.TRACK_NUMBER) number = readUint(tracks, value, field.size);
          if (field.id === ID.TRACK_TYPE) type = readUint(tracks, value, field.size);
          o = value + field.size;
        }
        if (number > 0) this.#trackTypes.set(number, type);
      }
      offset = end;
    }
    const video = [...this.#trackTypes].find(([, type]) => type === 1);
    this.#cueTrack = video ? video[0] : ([...this.#trackTypes.keys()][0] ?? 1);
  }

  /** @param {number} cuesPosition Cues position in the Segment, or -1 @returns {Uint8Array<ArrayBuffer>} exactly SEEK_HEAD_RESERVED bytes */
  #seekHead(cuesPosition) {
    const entries = [
      [ID.INFO, this.#infoPosition],
      [ID.TRACKS, this.#tracksPosition],
    ];
    if (cuesPosition >= 0) entries.push([ID.CUES, cuesPosition]);
    /** @type {number[]} */
    const payload = [];
    for (const [id, position] of entries) {
      payload.push(
        ...element(ID.SEEK, [
          ...element(ID.SEEK_ID, idBytes(id)),
          ...element(ID.SEEK_POSITION, uintBytesFixed(position, 8)),
        ]),
      );
    }
    const seekHead = element(ID.SEEK_HEAD, payload);
    return new Uint8Array([...seekHead, ...voidElement(SEEK_HEAD_RESERVED - seekHead.length)]);
  }

  /** @returns {Uint8Array<ArrayBuffer>} the Cues element for every cluster that starts a keyframe */
  #cuesElement() {
    /** @type {number[]} */
    const payload = [];
    for (const { time, position } of this.#cues) {
      payload.push(
        ...element(ID.CUE_POINT, [
          ...element(ID.CUE_TIME, uintBytes(time)),
          ...element(ID.CUE_TRACK_POSITIONS, [
            ...element(ID.CUE_TRACK, uintBytes(this.#cueTrack)),
            ...element(ID.CUE_CLUSTER_POSITION, uintBytes(position)),
          ]),
        ]),
      );
    }
    return new Uint8Array(element(ID.CUES, payload, 8));
  }

  // --- clusters ----------------------------------------------------------------------------------

  /**
   * Read on through clusters, noting their positions and timecodes, keyframes and block times.
   * @override
   * @protected
   * @param {Uint8Array<ArrayBuffer>} bytes
   * @param {number} at
   * @param {number} position output offset of bytes[at]
   * @returns {number}
   */
  scanFrom(bytes, at, position) {
    let i = at;
    if (this.#accFor === 'payload') {
      while (i < bytes.length && this.#acc.length < this.#accNeed) this.#acc.push(bytes[i++]);
      if (this.#acc.length < this.#accNeed) return i;
      this.#onPayload(this.#accElementId, Uint8Array.from(this.#acc));
      this.skip(this.#accElementRest);
      this.#acc = [];
      this.#accFor = 'header';
      return i;
    }
    // Collect an element header, a byte at a time: at most 4 id bytes + 8 size bytes.
    const start = position - this.#acc.length;
    this.#acc.push(bytes[i++]);
    const header = readElementHeader(Uint8Array.from(this.#acc), 0);
    if (!header) {
      if (this.#acc.length >= 12) throw new Error('bad element header');
      return i;
    }
    this.#acc = [];
    this.#onElement(header, start);
    return i;
  }

  /**
   * @param {{id: number, size: number, headerLength: number}} header
   * @param {number} start output offset of the element
   */
  #onElement({ id, size, headerLength }, start) {
    const payloadStart = start + headerLength;
    if (start >= this.#blockGroupEnd) this.#blockGroupEnd = Infinity;
    if (this.#inCluster && (start >= this.#clusterEnd || SEGMENT_CHILDREN.has(id))) this.#inCluster = false;
    if (id === ID.CLUSTER) {
      this.#inCluster = true;
      this.#clusterEnd = size === UNKNOWN ? Infinity : payloadStart + size;
      this.#clusterPosition = start - this.#segmentDataStart;
      this.#clusterCued = false;
      return; // descend
    }
    if (size === UNKNOWN) throw new Error('element of unknown size inside a cluster');
    this.#elementStart = start;
    if (this.#inCluster && id === ID.BLOCK_GROUP) {
      this.#blockGroupStart = start;
      this.#blockGroupEnd = payloadStart + size;
      return; // descend
    }
    if (this.#inCluster && (id === ID.TIMECODE || id === ID.SIMPLE_BLOCK || id === ID.BLOCK)) {
      const need = id === ID.TIMECODE ? size : Math.min(size, 12);
      this.#accFor = 'payload';
      this.#accNeed = need;
      this.#accElementId = id;
      this.#accElementRest = size - need;
      this.#blockEnd = payloadStart + size;
      if (need === 0) {
        this.#accFor = 'header';
        this.skip(size);
      }
      return;
    }
    this.skip(size);
  }

  /**
   * @param {number} id
   * @param {Uint8Array<ArrayBuffer>} payload the element's first bytes
   */
  #onPayload(id, payload) {
    if (id === ID.TIMECODE) {
      this.#clusterTimecode = readUint(payload, 0, payload.length);
      return;
    }
    const track = readVint(payload, 0);
    if (!track || payload.length < track.length + 3) return;
    const relative = new DataView(payload.buffer, payload.byteOffset + track.length, 2).getInt16(0);
    const time = this.#clusterTimecode + relative;
    const keyframe = id === ID.SIMPLE_BLOCK && (payload[track.length + 2] & 0x80) !== 0;
    const cued = keyframe && track.value === this.#cueTrack && !this.#clusterCued;
    if (cued) this.#clusterCued = true;
    // Counted once the block is whole: the next block's start says so, or finish(); cutIncomplete()
    // drops a block the bytes end in.
    this.#commitBlock();
    this.#pendingBlock = {
      track: track.value,
      time,
      cue: cued ? { time, position: this.#clusterPosition } : null,
      end: this.#blockGroupEnd !== Infinity ? this.#blockGroupEnd : this.#blockEnd,
    };
  }

  /** The last block read is whole: its time and cue count. */
  #commitBlock() {
    const block = this.#pendingBlock;
    if (!block) return;
    this.#pendingBlock = null;
    const times = this.#lastTimes.get(block.track);
    if (!times) this.#lastTimes.set(block.track, { last: block.time, gap: Infinity });
    else if (block.time > times.last) this.#lastTimes.set(block.track, { last: block.time, gap: Math.min(times.gap, block.time - times.last) });
    if (block.cue) this.#cues.push(block.cue);
  }
}
