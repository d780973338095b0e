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
// Element ids and layout: Matroska/WebM specification (RFC 9559).

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

/** Top-level (Segment children) ids: one of these ends a Cluster of unknown size. */
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

/** @typedef {{position: number, data: Uint8Array}} Patch */
/** @typedef {{tail: Uint8Array[], patches: Patch[], duration: number | null, fixed: boolean}} FinishResult */

/**
 * Read an EBML variable-length integer.
 * @param {Uint8Array} bytes
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
 * @param {Uint8Array} bytes
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
 * @param {Uint8Array} bytes
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

/** @param {Uint8Array[]} parts @returns {Uint8Array} */
function concat(parts) {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Streaming WebM fixer; see the module comment. */
export class WebmFixer {
  /** @type {Uint8Array[]} header bytes held until the first Cluster shows */
  #pending = [];
  #pendingLength = 0;
  #passthrough = false;
  #headerDone = false;
  /** bytes handed out so far (output offsets) */
  #out = 0;
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
  #skip = 0;
  #inCluster = false;
  #clusterEnd = Infinity;
  #blockGroupEnd = Infinity;
  #blockGroupStart = 0;
  /** output offset of the element whose payload is being collected or skipped */
  #elementStart = 0;
  #clusterPosition = 0;
  #clusterTimecode = 0;
  #clusterCued = false;
  #scanFailed = false;
  /** @type {{time: number, position: number}[]} */
  #cues = [];
  /** @type {Map<number, {last: number, previous: number}>} per track, in timecode units */
  #lastTimes = new Map();

  /**
   * @param {Uint8Array} bytes the next bytes of the recording
   * @returns {Uint8Array[]} what to write now, in order
   */
  push(bytes) {
    if (this.#passthrough) return this.#emit([bytes]);
    if (!this.#headerDone) {
      this.#pending.push(bytes);
      this.#pendingLength += bytes.length;
      const all = concat(this.#pending);
      /** @type {ReturnType<WebmFixer['#rewriteHeader']> | null} */
      let rewritten = null;
      try {
        rewritten = this.#rewriteHeader(all);
      } catch (err) {
        console.debug('netcall: WebM header not understood, passing it through', err);
        this.#passthrough = true;
        this.#pending = [];
        return this.#emit([all]);
      }
      if (!rewritten) {
        if (this.#pendingLength > MAX_HEADER_BYTES) {
          this.#passthrough = true;
          this.#pending = [];
          return this.#emit([all]);
        }
        return [];
      }
      this.#pending = [];
      this.#headerDone = true;
      const header = this.#emit([rewritten.header]);
      const rest = all.subarray(rewritten.consumed);
      return rest.length > 0 ? [...header, ...this.#scan(rest)] : header;
    }
    return this.#scan(bytes);
  }

  /**
   * End of the recording.
   * @param {number | null} [fallbackSeconds] a duration to use if the blocks could not be timed
   * @returns {FinishResult}
   */
  finish(fallbackSeconds = null) {
    if (!this.#headerDone || this.#passthrough) {
      const tail = this.#pending.length > 0 ? [concat(this.#pending)] : [];
      this.#pending = [];
      return { tail, patches: [], duration: fallbackSeconds, fixed: false };
    }
    let end = 0;
    for (const { last, previous } of this.#lastTimes.values()) {
      // A block lasts about as long as the gap before it (frames and audio packets are regular).
      const frame = previous >= 0 ? Math.min(Math.max(last - previous, 0), 1_000_000_000 / this.#timecodeScale) : 0;
      end = Math.max(end, last + frame);
    }
    const scale = this.#timecodeScale / 1e9;
    const measured = !this.#scanFailed && this.#lastTimes.size > 0;
    const duration = measured ? end : fallbackSeconds !== null ? fallbackSeconds / scale : null;

    /** @type {Uint8Array[]} */
    const tail = [];
    /** @type {Patch[]} */
    const patches = [];
    let cuesPosition = -1;
    if (!this.#scanFailed && this.#cues.length > 0) {
      cuesPosition = this.#out - this.#segmentDataStart;
      tail.push(this.#cuesElement());
    }
    const fileEnd = this.#out + tail.reduce((n, t) => n + t.length, 0);
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
    if (!this.#headerDone || this.#passthrough || this.#scanFailed) return this.#out;
    let end = this.#out;
    if (this.#skip > 0 || this.#accFor === 'payload') end = this.#elementStart;
    else if (this.#acc.length > 0) end = this.#out - this.#acc.length;
    if (this.#blockGroupEnd !== Infinity && this.#blockGroupEnd > end) end = Math.min(end, this.#blockGroupStart);
    this.#out = Math.max(end, this.#segmentDataStart);
    this.#skip = 0;
    this.#acc = [];
    this.#accFor = 'header';
    this.#blockGroupEnd = Infinity;
    return this.#out;
  }

  // --- header ------------------------------------------------------------------------------------

  /**
   * @param {Uint8Array} all every byte so far
   * @returns {{header: Uint8Array, consumed: number} | null} null until the first Cluster shows
   */
  #rewriteHeader(all) {
    const ebml = readElementHeader(all, 0);
    if (!ebml) return null;
    if (ebml.id !== ID.EBML || ebml.size === UNKNOWN) throw new Error('not a WebM file');
    const segmentAt = ebml.headerLength + ebml.size;
    const segment = readElementHeader(all, segmentAt);
    if (!segment) return null;
    if (segment.id !== ID.SEGMENT) throw new Error('no Segment after the EBML header');
    if (segment.size !== UNKNOWN) throw new Error('Segment of known size: nothing to fix');
    /** @type {{id: number, bytes: Uint8Array}[]} */
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
    this.#segmentSizeAt = this.#out + out.length;
    out.push(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff); // unknown size, 8 bytes wide: patched at the end
    this.#segmentDataStart = this.#out + out.length;
    this.#seekHeadAt = this.#out + out.length;
    out.push(...voidElement(SEEK_HEAD_RESERVED));
    for (const child of children) {
      if (child.id === ID.SEEK_HEAD || child.id === ID.VOID || child.id === ID.CUES) continue;
      if (child.id === ID.INFO) {
        this.#infoPosition = this.#out + out.length - this.#segmentDataStart;
        const payload = [...infoChildren, ...voidElement(DURATION_BYTES)];
        const head = [...idBytes(ID.INFO), ...sizeBytes(payload.length, 8)];
        this.#durationAt = this.#out + out.length + head.length + infoChildren.length;
        out.push(...head, ...payload);
      } else {
        if (child.id === ID.TRACKS) this.#tracksPosition = this.#out + out.length - this.#segmentDataStart;
        out.push(...child.bytes);
      }
    }
    return { header: new Uint8Array(out), consumed: offset };
  }

  /**
   * @param {Uint8Array} info the whole Info element
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

  /** @param {Uint8Array} tracks the whole Tracks element */
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

  /** @param {number} cuesPosition Cues position in the Segment, or -1 @returns {Uint8Array} exactly SEEK_HEAD_RESERVED bytes */
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

  /** @returns {Uint8Array} the Cues element for every cluster that starts a keyframe */
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

  /** @param {Uint8Array[]} parts @returns {Uint8Array[]} */
  #emit(parts) {
    for (const p of parts) this.#out += p.length;
    return parts;
  }

  /**
   * Pass `bytes` through, noting clusters, keyframes and block times.
   * @param {Uint8Array} bytes
   * @returns {Uint8Array[]}
   */
  #scan(bytes) {
    if (!this.#scanFailed) {
      try {
        this.#scanBytes(bytes, this.#out);
      } catch (err) {
        console.debug('netcall: WebM cluster scan stopped; the file keeps its duration estimate', err);
        this.#scanFailed = true;
      }
    }
    return this.#emit([bytes]);
  }

  /**
   * @param {Uint8Array} bytes
   * @param {number} base output offset of bytes[0]
   */
  #scanBytes(bytes, base) {
    let i = 0;
    while (i < bytes.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, bytes.length - i);
        i += n;
        this.#skip -= n;
        continue;
      }
      if (this.#accFor === 'payload') {
        while (i < bytes.length && this.#acc.length < this.#accNeed) this.#acc.push(bytes[i++]);
        if (this.#acc.length < this.#accNeed) return;
        this.#onPayload(this.#accElementId, Uint8Array.from(this.#acc));
        this.#skip = this.#accElementRest;
        this.#acc = [];
        this.#accFor = 'header';
        continue;
      }
      // Collect an element header: at most 4 id bytes + 8 size bytes.
      const start = base + i - this.#acc.length;
      this.#acc.push(bytes[i++]);
      const header = readElementHeader(Uint8Array.from(this.#acc), 0);
      if (!header) {
        if (this.#acc.length >= 12) throw new Error('bad element header');
        continue;
      }
      this.#acc = [];
      this.#onElement(header, start);
    }
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
      if (need === 0) {
        this.#accFor = 'header';
        this.#skip = size;
      }
      return;
    }
    this.#skip = size;
  }

  /**
   * @param {number} id
   * @param {Uint8Array} payload the element's first bytes
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
    const times = this.#lastTimes.get(track.value);
    if (!times) this.#lastTimes.set(track.value, { last: time, previous: -1 });
    else if (time >= times.last) this.#lastTimes.set(track.value, { last: time, previous: times.last });
    const keyframe = id === ID.SIMPLE_BLOCK && (payload[track.length + 2] & 0x80) !== 0;
    if (keyframe && track.value === this.#cueTrack && !this.#clusterCued) {
      this.#clusterCued = true;
      this.#cues.push({ time, position: this.#clusterPosition });
    }
  }
}
