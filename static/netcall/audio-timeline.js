// A wall-clock audio timeline: the recorder's audio, mixed from any number of inputs, one sample per
// sample period of real time, whatever the inputs do.
//
// Each input hands in chunks of samples with their timestamps (AudioData from a
// MediaStreamTrackProcessor). A chunk that continues its input's previous chunk is placed right after
// it (timestamps jitter by a few ms; the samples are what count); a chunk that jumps (the browser lost
// audio, the member's track was replaced, a stall) is placed at its own timestamp, so lost audio
// becomes silence of the same length and never shortens the file. The output is taken up to a time:
// every sample up to then, silence where no input had any. So the recording's audio stays as long as
// the time it covers, and its position in the file stays the time it was captured.
//
// Pure: no browser APIs, so it is unit-tested in Node (tests/js/audio-timeline.test.js).

/** A chunk further than this from where its input's previous one ended starts at its own timestamp. */
export const JUMP_US = 40_000;
/** Samples are kept at most this far ahead of what was taken (a bound on memory: 10 s). */
export const MAX_AHEAD_US = 10_000_000;

/**
 * @typedef {object} InputState
 * @property {number | null} next the output sample index where its next chunk continues
 */

export class AudioTimeline {
  /** output samples per second */
  rate;
  /** @type {number} the timestamp (µs) of output sample 0 */
  #origin;
  /** @type {number} how many samples were taken so far */
  #taken = 0;
  /** @type {Float32Array} samples from #taken on, mixed */
  #pending = new Float32Array(0);
  /** @type {number} how many samples of #pending hold something */
  #filled = 0;
  /** @type {Map<string, InputState>} */
  #inputs = new Map();
  /** samples dropped because they came after their time was taken (for diagnostics) */
  late = 0;

  /**
   * @param {number} rate output sample rate
   * @param {number} originUs the timestamp of the output's first sample (µs, the inputs' clock)
   */
  constructor(rate, originUs) {
    this.rate = rate;
    this.#origin = originUs;
  }

  /** @returns {number} the timestamp (µs) of the next sample take() hands out */
  get position() {
    return this.#origin + (this.#taken * 1e6) / this.rate;
  }

  /** @returns {number} samples taken so far */
  get taken() {
    return this.#taken;
  }

  /**
   * @param {string} key
   * @returns {number | null} the timestamp (µs) just past the input's last sample placed, or null
   */
  reached(key) {
    const next = this.#inputs.get(key)?.next;
    return next === null || next === undefined ? null : this.#origin + (next * 1e6) / this.rate;
  }

  /** @param {string} key an input that ended: its next chunk starts at its own timestamp */
  forget(key) {
    this.#inputs.delete(key);
  }

  /**
   * Add a chunk of mono samples.
   * @param {string} key the input
   * @param {number} timestampUs when its first sample was captured
   * @param {Float32Array} samples mono, at `sampleRate`
   * @param {number} sampleRate
   */
  place(key, timestampUs, samples, sampleRate) {
    const data = sampleRate === this.rate ? samples : resample(samples, sampleRate, this.rate);
    let input = this.#inputs.get(key);
    if (!input) {
      input = { next: null };
      this.#inputs.set(key, input);
    }
    const at = Math.round(((timestampUs - this.#origin) * this.rate) / 1e6);
    const jump = (JUMP_US * this.rate) / 1e6;
    const start = input.next !== null && Math.abs(at - input.next) <= jump ? input.next : at;
    input.next = start + data.length;
    // Only what is still to come, and not too far ahead.
    const from = Math.max(start, this.#taken);
    const limit = this.#taken + Math.ceil((MAX_AHEAD_US * this.rate) / 1e6);
    const to = Math.min(start + data.length, limit);
    this.late += Math.max(0, Math.min(this.#taken, start + data.length) - start);
    if (to <= from) return;
    const end = to - this.#taken;
    this.#reserve(end);
    const pending = this.#pending;
    for (let i = from; i < to; i++) pending[i - this.#taken] += data[i - start];
    this.#filled = Math.max(this.#filled, end);
  }

  /**
   * Take every sample up to `untilUs` (exclusive), silence where no input had any.
   * @param {number} untilUs
   * @param {number} [multiple] hand out a whole number of this many samples (e.g. 10 ms worth)
   * @returns {Float32Array<ArrayBuffer>} possibly empty
   */
  take(untilUs, multiple = 1) {
    let count = Math.floor(((untilUs - this.#origin) * this.rate) / 1e6) - this.#taken;
    count -= count % multiple;
    if (count <= 0) return new Float32Array(0);
    const out = new Float32Array(count);
    out.set(this.#pending.subarray(0, Math.min(count, this.#filled)));
    const rest = Math.max(0, this.#filled - count);
    this.#pending.copyWithin(0, count, count + rest);
    this.#pending.fill(0, rest);
    this.#filled = rest;
    this.#taken += count;
    return out;
  }

  /** @param {number} length make #pending hold at least this many samples */
  #reserve(length) {
    if (this.#pending.length >= length) return;
    const grown = new Float32Array(Math.max(length, this.#pending.length * 2, 4800));
    grown.set(this.#pending.subarray(0, this.#filled));
    this.#pending = grown;
  }
}

/**
 * Linear resampling (inputs at another rate than the output: rare, e.g. a 44.1 kHz microphone).
 * @param {Float32Array} samples
 * @param {number} from
 * @param {number} to
 * @returns {Float32Array}
 */
export function resample(samples, from, to) {
  const length = Math.round((samples.length * to) / from);
  const out = new Float32Array(length);
  const step = from / to;
  for (let i = 0; i < length; i++) {
    const x = i * step;
    const j = Math.floor(x);
    const a = samples[Math.min(j, samples.length - 1)];
    const b = samples[Math.min(j + 1, samples.length - 1)];
    out[i] = a + (b - a) * (x - j);
  }
  return out;
}

/**
 * Mono samples of a planar or interleaved multi-channel buffer (the mean of the channels).
 * @param {Float32Array[]} channels one array per channel
 * @returns {Float32Array}
 */
export function downmix(channels) {
  if (channels.length === 1) return channels[0];
  const out = new Float32Array(channels[0].length);
  for (const channel of channels) for (let i = 0; i < out.length; i++) out[i] += channel[i] / channels.length;
  return out;
}
