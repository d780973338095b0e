// What the two container fixers (webm-fix.js, mp4-fix.js) share: the streaming scaffolding around
// their parsers. Bytes come in as the recorder hands them out; the header is held back until it is
// whole and rewritten once; everything after it passes through unchanged while the subclass scans it;
// anything the subclass does not understand turns the fixer into a pass-through (a file is never made
// worse than the browser's own). At the end, `finish()` returns bytes to append and fixed-size
// patches of bytes already handed out (none changes the file's length).

/** @typedef {{position: number, data: Uint8Array<ArrayBuffer>}} Patch */
/** @typedef {{tail: Uint8Array<ArrayBuffer>[], patches: Patch[], duration: number | null, fixed: boolean}} FinishResult */

/**
 * @param {Uint8Array<ArrayBuffer>[]} parts
 * @returns {Uint8Array<ArrayBuffer>} the parts, one after the other, in one array
 */
export function concat(parts) {
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

/**
 * A streaming fixer: `push(bytes)` any number of times (write what it returns, in order), then
 * `finish()` once. Subclasses implement `rewriteHeader`, `scanFrom` and `finishFixed`.
 * @abstract
 */
export class StreamFixer {
  /** @type {Uint8Array<ArrayBuffer>[]} header bytes held until the header is whole */
  #pending = [];
  #pendingLength = 0;
  #passthrough = false;
  #headerDone = false;
  #scanFailed = false;
  /** bytes handed out so far: the output offset of the next byte */
  #out = 0;
  /** bytes the scan passes over unread (the rest of an element that does not matter) */
  #skip = 0;
  #label;
  #maxHeaderBytes;

  /**
   * @param {string} label names the container in log messages ('WebM', 'MP4')
   * @param {number} maxHeaderBytes give up rewriting (pass through) if the header is not whole by then
   */
  constructor(label, maxHeaderBytes) {
    this.#label = label;
    this.#maxHeaderBytes = maxHeaderBytes;
  }

  /**
   * @param {Uint8Array<ArrayBuffer>} bytes the next bytes of the recording
   * @returns {Uint8Array<ArrayBuffer>[]} what to write now, in order
   */
  push(bytes) {
    if (this.#passthrough) return this.#emit([bytes]);
    if (this.#headerDone) return this.#scan(bytes);
    this.#pending.push(bytes);
    this.#pendingLength += bytes.length;
    const all = concat(this.#pending);
    /** @type {{header: Uint8Array<ArrayBuffer>, consumed: number} | null} */
    let rewritten = null;
    try {
      rewritten = this.rewriteHeader(all);
    } catch (err) {
      console.debug(`netcall: ${this.#label} header not understood, passing it through`, err);
      this.#passthrough = true;
    }
    if (!rewritten && (this.#passthrough || this.#pendingLength > this.#maxHeaderBytes)) {
      this.#passthrough = true;
      this.#pending = [];
      return this.#emit([all]);
    }
    if (!rewritten) return [];
    this.#pending = [];
    this.#headerDone = true;
    const header = this.#emit([rewritten.header]);
    const rest = all.subarray(rewritten.consumed);
    return rest.length > 0 ? [...header, ...this.#scan(rest)] : header;
  }

  /**
   * End of the recording.
   * @param {number | null} [fallbackSeconds] a duration to use if the media could not be timed
   * @returns {FinishResult}
   */
  finish(fallbackSeconds = null) {
    if (!this.#headerDone || this.#passthrough) {
      const tail = this.#pending.length > 0 ? [concat(this.#pending)] : [];
      this.#pending = [];
      return { tail, patches: [], duration: fallbackSeconds, fixed: false };
    }
    return this.finishFixed(fallbackSeconds);
  }

  /** @returns {boolean} whether the header was rewritten (so the subclass's layout applies) */
  get rewriting() {
    return this.#headerDone && !this.#passthrough;
  }

  /** @returns {boolean} whether scanning stopped on something not understood */
  get scanFailed() {
    return this.#scanFailed;
  }

  /** @returns {number} the output offset of the next byte (bytes handed out so far) */
  get out() {
    return this.#out;
  }

  /**
   * The output ends earlier than handed out (a cut recording ends on a whole element): later
   * offsets count from `length`. For subclasses.
   * @protected
   * @param {number} length at most `out`
   */
  truncateOutput(length) {
    this.#out = Math.min(length, this.#out);
  }

  /**
   * Rewrite the header, once it is whole. For subclasses.
   * @protected
   * @abstract
   * @param {Uint8Array<ArrayBuffer>} all every byte so far (starting at output offset 0)
   * @returns {{header: Uint8Array<ArrayBuffer>, consumed: number} | null} the new header and how many input bytes it
   *   replaces, or null until the header is whole; throws if the file is not one to fix
   */
  rewriteHeader(all) {
    throw new Error(`${this.#label}: rewriteHeader(${all.length} bytes) is not implemented`);
  }

  /**
   * Read on from `bytes[at]` (bytes that pass through after the header), noting what matters; throw
   * to stop scanning. For subclasses.
   * @protected
   * @abstract
   * @param {Uint8Array<ArrayBuffer>} bytes
   * @param {number} at the first byte not read yet (not skipped either)
   * @param {number} position the output offset of `bytes[at]`
   * @returns {number} the index of the next byte to read (past `at`); `skip()` passes over more
   */
  scanFrom(bytes, at, position) {
    throw new Error(`${this.#label}: scanFrom(${bytes.length} bytes, ${at}, ${position}) is not implemented`);
  }

  /**
   * Pass over the next `count` bytes unread (the rest of an element the scan does not need). For subclasses.
   * @protected
   * @param {number} count may be Infinity: to the end
   */
  skip(count) {
    this.#skip = count;
  }

  /**
   * @protected
   * @returns {number} the bytes still to pass over unread
   */
  get skipping() {
    return this.#skip;
  }

  /**
   * `finish()` of a file whose header was rewritten. For subclasses.
   * @protected
   * @abstract
   * @param {number | null} fallbackSeconds
   * @returns {FinishResult}
   */
  finishFixed(fallbackSeconds) {
    throw new Error(`${this.#label}: finishFixed(${fallbackSeconds}) is not implemented`);
  }

  /** @param {Uint8Array<ArrayBuffer>[]} parts @returns {Uint8Array<ArrayBuffer>[]} */
  #emit(parts) {
    for (const p of parts) this.#out += p.length;
    return parts;
  }

  /** @param {Uint8Array<ArrayBuffer>} bytes */
  #scanAll(bytes) {
    for (let i = 0; i < bytes.length; ) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, bytes.length - i);
        i += n;
        this.#skip -= n;
      } else {
        i = this.scanFrom(bytes, i, this.#out + i);
      }
    }
  }

  /** @param {Uint8Array<ArrayBuffer>} bytes @returns {Uint8Array<ArrayBuffer>[]} */
  #scan(bytes) {
    if (!this.#scanFailed) {
      try {
        this.#scanAll(bytes);
      } catch (err) {
        console.debug(`netcall: ${this.#label} scan stopped; the file keeps its duration estimate`, err);
        this.#scanFailed = true;
      }
    }
    return this.#emit([bytes]);
  }
}
