// Byte helpers for the tests: a seeded random source, ways to cut a file into chunks, and a replay of
// a recording through a container fixer the way the SDK does it (recorder.js, journal.js).

/**
 * A deterministic random source (mulberry32): the same seed gives the same numbers.
 * @param {number} seed
 * @returns {() => number} in [0, 1)
 */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * @param {() => number} random
 * @param {number} length
 * @returns {Uint8Array}
 */
export function randomBytes(random, length) {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** @param {Uint8Array[]} parts @returns {Uint8Array} */
export function join(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Cut `bytes` into chunks whose sizes `size()` picks.
 * @param {Uint8Array} bytes
 * @param {() => number} size at least 1
 * @returns {Uint8Array[]}
 */
export function rechunk(bytes, size) {
  const out = [];
  for (let at = 0; at < bytes.length; ) {
    const n = Math.max(1, Math.floor(size()));
    out.push(bytes.slice(at, at + n));
    at += n;
  }
  return out;
}

/**
 * The first `length` bytes of a recording, in its own chunks (the last one cut).
 * @param {Uint8Array[]} chunks
 * @param {number} length
 * @returns {Uint8Array[]}
 */
export function truncate(chunks, length) {
  const out = [];
  let left = length;
  for (const chunk of chunks) {
    if (left <= 0) break;
    out.push(chunk.length <= left ? chunk : chunk.slice(0, left));
    left -= chunk.length;
  }
  return out;
}

/**
 * @typedef {object} Replayed
 * @property {Uint8Array} bytes the file as a sink would hold it: output, cut to a whole element where
 *   `cut`, then the tail, with the patches applied
 * @property {number | null} duration what finish() said, in seconds
 * @property {boolean} fixed
 */

/**
 * Feed `chunks` to `fixer` and build the file the way the SDK does: recorder.js for a recording that
 * stopped; journal.js recovery (`cut: true`: end on a whole element first) for one a dead page left.
 * @param {{push: (b: Uint8Array) => Uint8Array[], finish: (s: number | null) => {tail: Uint8Array[],
 *   patches: {position: number, data: Uint8Array}[], duration: number | null, fixed: boolean},
 *   cutIncomplete?: () => number}} fixer
 * @param {Uint8Array[]} chunks
 * @param {{cut?: boolean, fallbackSeconds?: number | null}} [options]
 * @returns {Replayed}
 */
export function replay(fixer, chunks, { cut = false, fallbackSeconds = null } = {}) {
  const parts = [];
  for (const chunk of chunks) parts.push(...fixer.push(chunk));
  let output = join(parts);
  if (cut && fixer.cutIncomplete) {
    const end = fixer.cutIncomplete();
    if (end > output.length) throw new Error(`cutIncomplete() said ${end}, past the ${output.length} bytes handed out`);
    output = output.subarray(0, end);
  }
  const { tail, patches, duration, fixed } = fixer.finish(fallbackSeconds);
  const bytes = join([output, ...tail]);
  for (const { position, data } of patches) {
    if (position < 0 || position + data.length > bytes.length) {
      throw new Error(`patch of ${data.length} bytes at ${position} is outside the ${bytes.length}-byte file`);
    }
    bytes.set(data, position);
  }
  return { bytes, duration, fixed };
}

/**
 * The duration fields of an MP4's header, read the plain way (ISO/IEC 14496-12), to check the fixer's
 * patches by another reading than its own.
 * @param {Uint8Array} file
 * @returns {{movie: number | null, fragments: number | null, tracks: {header: number, media: number}[]}}
 *   seconds: mvhd, mehd (null: none), and per trak the tkhd (movie timescale) and mdhd (its own)
 */
export function mp4Durations(file) {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const type = (/** @type {number} */ at) => String.fromCharCode(...file.subarray(at + 4, at + 8));
  /** @param {number} start @param {number} end @returns {{type: string, body: number, end: number}[]} */
  const children = (start, end) => {
    const out = [];
    for (let at = start; at + 8 <= end; ) {
      let size = view.getUint32(at);
      let body = at + 8;
      if (size === 1) {
        size = Number(view.getBigUint64(at + 8));
        body = at + 16;
      } else if (size === 0) {
        size = end - at;
      }
      out.push({ type: type(at), body, end: at + size });
      at += size;
    }
    return out;
  };
  // Full boxes: version 1 has 64-bit times and durations, version 0 32-bit ones; timescales are 32-bit in both.
  /** @param {number} body @param {number} v1 offset of the duration in version 1 @param {number} v0 in version 0 */
  const duration = (body, v1, v0) => (view.getUint8(body) === 1 ? Number(view.getBigUint64(body + v1)) : view.getUint32(body + v0));
  /** @param {number} body the body of an mvhd or mdhd */
  const timescaleOf = (body) => view.getUint32(body + (view.getUint8(body) === 1 ? 20 : 12));
  const moov = children(0, file.length).find((b) => b.type === 'moov');
  if (!moov) throw new Error('no moov');
  const boxes = children(moov.body, moov.end);
  const mvhd = boxes.find((b) => b.type === 'mvhd');
  if (!mvhd) throw new Error('no mvhd');
  const timescale = timescaleOf(mvhd.body);
  const movie = duration(mvhd.body, 24, 16) / timescale;
  const mvex = boxes.find((b) => b.type === 'mvex');
  const mehd = mvex && children(mvex.body, mvex.end).find((b) => b.type === 'mehd');
  const fragments = mehd ? duration(mehd.body, 4, 4) / timescale : null;
  const tracks = boxes
    .filter((b) => b.type === 'trak')
    .map((trak) => {
      const parts = children(trak.body, trak.end);
      const tkhd = parts.find((b) => b.type === 'tkhd');
      const mdia = parts.find((b) => b.type === 'mdia');
      const mdhd = mdia && children(mdia.body, mdia.end).find((b) => b.type === 'mdhd');
      if (!tkhd || !mdhd) throw new Error('trak without tkhd or mdhd');
      return {
        header: duration(tkhd.body, 28, 20) / timescale,
        media: duration(mdhd.body, 24, 16) / timescaleOf(mdhd.body),
      };
    });
  return { movie, fragments, tracks };
}
