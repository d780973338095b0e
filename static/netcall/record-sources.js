// Stable tracks for MediaRecorder, fed from the call's changing tracks.
//
// A MediaRecorder stops (or errors) when the track set of its stream changes, but the tracks of a
// call do change: a member's camera goes off and on, a device is switched, a peer connection is
// rebuilt after a network drop, members come and go. So the recorder never records the call's
// tracks directly; it records tracks it owns and keeps feeding:
//
//  - AudioRelay (Chromium: insertable streams): every input's samples read as AudioData through a
//    MediaStreamTrackProcessor, placed on a wall-clock timeline by their timestamps
//    (audio-timeline.js) and written to a MediaStreamTrackGenerator: the file holds one sample per
//    sample period of real time, and audio the browser lost (a busy machine, a replaced track)
//    becomes silence of the same length. WebAudio cannot promise that: its rendering runs on the
//    audio device's clock, and when the machine is busy it skips render quanta, which a
//    MediaStreamAudioDestinationNode then never delivers (measured: 10 s of a 22 s recording lost).
//  - AudioMix (elsewhere): a WebAudio graph on a running AudioContext whose MediaStreamAudioDestinationNode
//    yields one audio track; inputs (one per voice) are connected and disconnected as the call
//    changes, while the destination runs on, so the file has no gap and no stall. Remote voices are
//    also played out through the platform (platform.js), or Chromium hands WebAudio only silence.
//  - VideoRelay: a MediaStreamTrackGenerator (insertable streams) fed frame by frame from the
//    current source track through a MediaStreamTrackProcessor, retimed on one clock; while there is
//    no source (camera off, member reconnecting), black frames keep the video going. (Chromium's
//    MediaRecorder times video frames by when they are written, audio by its timestamps.)
//
// Both relays write nothing until the recorder has started (`begin`): the video's first frame then, the
// audio from that instant on. Chromium's MP4 muxer starts each track at zero wherever its first sample
// lies (measured: generator tracks whose audio began 100 ms before the video decode 100 ms out of sync),
// so the two must start together.

import { AudioTimeline, downmix } from './audio-timeline.js';
import { canRelayAudioFrames, canRelayVideoFrames } from './formats.js';

/** No source frame for this long: write a black frame. */
const FILL_AFTER_MS = 500;
/** How often the relay checks for missing frames (the black frame rate while there is no source). */
const FILL_INTERVAL_MS = 250;
const DEFAULT_SIZE = { width: 640, height: 480 };

/**
 * @typedef {object} AudioInput
 * @property {MediaStreamTrack} track
 * @property {() => void} release stops playing a remote input out
 */

/**
 * The inputs of an audio source, one per key, as AudioMix and AudioRelay both keep them: `set`
 * replaces or removes a key's input; a subclass says how an input is connected and disconnected.
 * @template {AudioInput} Input
 */
class AudioInputs {
  #platform;
  /** @protected @type {Map<string, Input>} */
  inputs = new Map();
  /** @protected once true, `set` connects nothing */
  closed = false;

  /** @param {Pick<import('./platform.js').Platform, 'playDetached'>} platform plays remote inputs out */
  constructor(platform) {
    this.#platform = platform;
  }

  /** @returns {string[]} the keys of the connected inputs */
  get keys() {
    return [...this.inputs.keys()];
  }

  /**
   * Connect `track` under `key` (replacing that key's previous track), or disconnect the key.
   * @param {string} key e.g. an account
   * @param {MediaStreamTrack | null} track
   * @param {{remote?: boolean}} [options] `remote`: a WebRTC track (played out so Chromium delivers it)
   */
  set(key, track, { remote = false } = {}) {
    const current = this.inputs.get(key);
    if (current?.track === track && track?.readyState === 'live') return;
    if (current) {
      this.inputs.delete(key);
      this.disconnect(current);
      current.release();
    }
    if (!track || track.readyState !== 'live' || this.closed) return;
    const stream = new MediaStream([track]);
    const release = remote ? this.#platform.playDetached(stream) : () => {};
    this.connect(key, track, stream, release);
  }

  /**
   * Start taking `track` in under `key` (it is live, the key is free); store the input in `inputs`.
   * @protected
   * @param {string} _key
   * @param {MediaStreamTrack} _track
   * @param {MediaStream} _stream holds `track` alone (the one a remote input is played out from)
   * @param {() => void} _release
   * @returns {void}
   */
  connect(_key, _track, _stream, _release) {
    throw new Error('a subclass connects inputs');
  }

  /**
   * Stop taking `input` in (it is already out of `inputs`).
   * @protected
   * @param {Input} _input
   * @returns {void}
   */
  disconnect(_input) {
    throw new Error('a subclass disconnects inputs');
  }
}

/**
 * @typedef {object} MixInput
 * @property {MediaStreamTrack} track
 * @property {MediaStreamAudioSourceNode} source
 * @property {() => void} release
 */

/**
 * A WebAudio mix of any number of audio tracks into one stable track.
 * @extends {AudioInputs<MixInput>}
 * @implements {AudioSourceLike}
 */
export class AudioMix extends AudioInputs {
  #context;
  #destination;
  /** @type {ConstantSourceNode} keeps the graph (and the output track) running with no input */
  #keepAlive;

  /**
   * @param {AudioContext} context a running context
   * @param {Pick<import('./platform.js').Platform, 'playDetached'>} platform plays remote inputs out
   */
  constructor(context, platform) {
    super(platform);
    this.#context = context;
    this.#destination = context.createMediaStreamDestination();
    this.#keepAlive = context.createConstantSource();
    this.#keepAlive.offset.value = 0;
    this.#keepAlive.connect(this.#destination);
    this.#keepAlive.start();
  }

  /** @returns {MediaStreamTrack} the mixed audio */
  get track() {
    return this.#destination.stream.getAudioTracks()[0];
  }

  /**
   * @override
   * @param {string} key
   * @param {MediaStreamTrack} track
   * @param {MediaStream} stream
   * @param {() => void} release
   */
  connect(key, track, stream, release) {
    const source = this.#context.createMediaStreamSource(stream);
    source.connect(this.#destination);
    this.inputs.set(key, { track, source, release });
  }

  /**
   * @override
   * @param {MixInput} input
   */
  disconnect(input) {
    input.source.disconnect();
  }

  /** @returns {Promise<void>} nothing held back: WebAudio writes as it renders */
  drain() {
    return Promise.resolve();
  }

  /** Disconnect everything and end the output track. */
  close() {
    for (const key of this.keys) this.set(key, null);
    this.#keepAlive.stop();
    this.#keepAlive.disconnect();
    for (const track of this.#destination.stream.getTracks()) track.stop();
  }
}

/** Audio is written this long after it was captured: inputs handed in late by a busy page still fit. */
const AUDIO_LATENCY_US = 250_000;
/** ...or longer, up to this, while an input that is behind was heard from lately (the page stalled). */
const AUDIO_STALL_US = 1_500_000;
/** How often the relay writes audio when no input hands any in (silence keeps the track going). */
const AUDIO_TICK_MS = 50;
/** The relay's output rate (Opus encodes 48 kHz). */
const AUDIO_RATE = 48_000;
/** When the recorder stops, audio this far past the stop is written first (what is in flight then is lost). */
const AUDIO_DRAIN_US = 100_000;
/** ...but the stop waits no longer than this (a throttled background tab writes once a second). */
const AUDIO_DRAIN_TIMEOUT_MS = 600;
/**
 * ...and then, the video ended (VideoRelay.end), the audio goes on this much longer before the recorder
 * stops: Chromium's MediaRecorder drops the audio still on its way to the muxer when it stops (its Opus
 * encoder holds back up to a 60 ms frame). Measured under the sync test's CPU hog, a recording stopped
 * with both running ended its audio 20-126 ms before its video; writing the audio ahead at once instead
 * made it 100-380 ms too long.
 */
export const AUDIO_TAIL_MS = 60;
/** Samples per AudioData written (10 ms), always the same. */
const AUDIO_CHUNK = AUDIO_RATE / 100;
/** AudioData the processor may queue while the page is busy (10 ms each): 2 s. */
const AUDIO_QUEUE = 200;

/**
 * @typedef {object} AudioSourceLike
 * @property {MediaStreamTrack} track the audio to record
 * @property {string[]} keys the connected inputs
 * @property {(key: string, track: MediaStreamTrack | null, options?: {remote?: boolean}) => void} set
 * @property {(at?: number) => void} [begin] the recorder started: the recorded audio starts at `at`
 *   (performance.now(), by default now)
 * @property {() => Promise<void>} drain write what is held back, up to now (before the recorder stops)
 * @property {() => void} close
 */

/** @returns {number} now, in microseconds on the clock of AudioData timestamps */
function nowUs() {
  return Math.round(performance.now() * 1000);
}

/**
 * @typedef {object} RelayInput
 * @property {MediaStreamTrack} track
 * @property {ReadableStreamDefaultReader<AudioData>} reader
 * @property {() => void} release
 * @property {number} heardAt when (µs) it last handed in audio
 */

/**
 * Any number of audio tracks mixed into one track that runs on the wall clock (insertable streams).
 * @extends {AudioInputs<RelayInput>}
 * @implements {AudioSourceLike}
 */
export class AudioRelay extends AudioInputs {
  /** @type {any} MediaStreamTrackGenerator */
  #generator;
  /** @type {WritableStreamDefaultWriter<AudioData>} */
  #writer;
  #timeline;
  /** @type {ReturnType<typeof setInterval>} */
  #ticker;
  /** @type {Promise<void>} writes happen one at a time, in order */
  #writing = Promise.resolve();
  /** how long samples are held back before they are written (µs); 0 once draining */
  #latency = AUDIO_LATENCY_US;
  /** @type {(() => void) | null} told after each write while draining */
  #drained = null;
  /** whether the recorder started (begin): nothing is written before */
  #begun = false;

  /** @param {Pick<import('./platform.js').Platform, 'playDetached'>} platform plays remote inputs out */
  constructor(platform) {
    super(platform);
    const g = /** @type {any} */ (globalThis);
    this.#generator = new g.MediaStreamTrackGenerator({ kind: 'audio' });
    this.#writer = this.#generator.writable.getWriter();
    this.#timeline = new AudioTimeline(AUDIO_RATE, nowUs());
    this.#ticker = setInterval(() => this.#flush(), AUDIO_TICK_MS);
  }

  /** @returns {MediaStreamTrack} */
  get track() {
    return this.#generator;
  }

  /**
   * @override
   * @param {string} key
   * @param {MediaStreamTrack} track
   * @param {MediaStream} _stream the processor reads the track itself
   * @param {() => void} release
   */
  connect(key, track, _stream, release) {
    const g = /** @type {any} */ (globalThis);
    /** @type {ReadableStreamDefaultReader<AudioData>} */
    const reader = new g.MediaStreamTrackProcessor({ track, maxBufferSize: AUDIO_QUEUE }).readable.getReader();
    const input = { track, reader, release, heardAt: nowUs() };
    this.inputs.set(key, input);
    void this.#pump(key, input);
  }

  /**
   * @override
   * @param {RelayInput} input
   */
  disconnect(input) {
    input.reader.cancel().catch(() => {});
  }

  /**
   * Before the recorder stops: write without holding back, and resolve once the samples up to a
   * little past now are written (a MediaRecorder drops what is still on its way when it stops).
   * @returns {Promise<void>}
   */
  drain() {
    this.#latency = 0;
    const until = nowUs() + AUDIO_DRAIN_US;
    return new Promise((resolve) => {
      const timer = setTimeout(done, AUDIO_DRAIN_TIMEOUT_MS);
      const check = () => {
        if (this.#timeline.position >= until || this.closed) done();
      };
      function done() {
        clearTimeout(timer);
        resolve(undefined);
      }
      this.#drained = () => check();
      this.#flush();
    }).then(() => {
      this.#drained = null;
      return this.#writing;
    });
  }

  /**
   * The recorder started: the audio it records starts at `at` (performance.now(), by default now), the
   * instant its video starts (Chromium's MP4 muxer starts each track at zero, wherever its first sample
   * lies). Nothing is written before.
   * @param {number} [at]
   */
  begin(at = performance.now()) {
    this.#timeline = new AudioTimeline(AUDIO_RATE, Math.round(at * 1000));
    this.#begun = true;
    this.#flush();
  }

  close() {
    if (this.closed) return;
    for (const key of this.keys) this.set(key, null);
    this.closed = true;
    clearInterval(this.#ticker);
    this.#writing = this.#writing.then(() => this.#writer.close()).catch(() => {});
    this.#generator.stop();
  }

  /**
   * @param {string} key
   * @param {RelayInput} input
   */
  async #pump(key, input) {
    /** @type {number | null} how far this input's timestamps are from ours (another clock), µs */
    let shift = null;
    try {
      for (;;) {
        const { value: data, done } = await input.reader.read();
        if (done) break;
        if (this.inputs.get(key) !== input || this.closed) {
          data.close();
          break;
        }
        // A clock far from ours (not Chromium's): the first chunk's arrival anchors it.
        shift ??= Math.abs(data.timestamp - nowUs()) > 2_000_000 ? nowUs() - data.timestamp : 0;
        const channels = [];
        for (let c = 0; c < data.numberOfChannels; c++) {
          const plane = new Float32Array(data.numberOfFrames);
          data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
          channels.push(plane);
        }
        this.#timeline.place(key, data.timestamp + shift, downmix(channels), data.sampleRate);
        input.heardAt = nowUs();
        data.close();
        this.#flush();
      }
    } catch (err) {
      if (!this.closed) console.debug('netcall: audio relay input ended', err);
    } finally {
      if (this.inputs.get(key) === input || !this.inputs.has(key)) this.#timeline.forget(key);
    }
  }

  /**
   * Up to where (µs) the timeline may be written: AUDIO_LATENCY_US ago, but not past an input that is
   * behind and was heard from within AUDIO_STALL_US (a page that stalled for longer than the latency
   * reads that input's queued audio only after this tick: it must land in the file, not become silence).
   * @returns {number}
   */
  #writableUntil() {
    const now = nowUs();
    // Draining: up to now, whatever is still to come (the video ends now too).
    if (this.#latency === 0) return now;
    let until = now - this.#latency;
    for (const [key, input] of this.inputs) {
      const reached = this.#timeline.reached(key);
      if (reached !== null && reached < until && now - input.heardAt < AUDIO_STALL_US) {
        until = Math.max(reached, now - AUDIO_STALL_US);
      }
    }
    return until;
  }

  /**
   * Write what the timeline holds up to AUDIO_LATENCY_US ago (silence where no input had any), in
   * AudioData of AUDIO_CHUNK samples each: Chromium restarts its encoder (and drops what it buffered)
   * whenever the chunk size changes.
   */
  #flush() {
    if (this.closed || !this.#begun) return;
    let timestamp = this.#timeline.position;
    const samples = this.#timeline.take(this.#writableUntil(), AUDIO_CHUNK);
    for (let at = 0; at < samples.length; at += AUDIO_CHUNK) {
      const data = new AudioData({
        format: 'f32-planar',
        sampleRate: AUDIO_RATE,
        numberOfFrames: AUDIO_CHUNK,
        numberOfChannels: 1,
        timestamp: Math.round(timestamp),
        data: samples.subarray(at, at + AUDIO_CHUNK),
      });
      timestamp += (AUDIO_CHUNK * 1e6) / AUDIO_RATE;
      this.#writing = this.#writing
        .then(() => (this.closed ? data.close() : this.#writer.write(data)))
        .catch(() => {
          try {
            data.close();
          } catch {
            // already closed by the writer
          }
        });
    }
    this.#drained?.();
  }
}

/**
 * The audio source this browser records best: the wall-clock relay where insertable streams carry
 * audio (Chromium), else the WebAudio mix on `context()`.
 * @param {() => Promise<AudioContext>} context the shared running AudioContext (only for the fallback)
 * @param {Pick<import('./platform.js').Platform, 'playDetached'>} platform
 * @returns {Promise<AudioSourceLike>}
 */
export async function createAudioSource(context, platform) {
  return canRelayAudioFrames() ? new AudioRelay(platform) : new AudioMix(await context(), platform);
}

/**
 * @typedef {object} VideoRelayLike
 * @property {MediaStreamTrack | null} track the track to record (null: record no video)
 * @property {(onStart: (at: number) => void) => void} begin the recorder started: `onStart` is told when
 *   (performance.now()) the recorded video starts, the instant the recorded audio must start at
 * @property {(track: MediaStreamTrack | null) => void} setSource
 * @property {() => void} end the recorder is about to stop: write no more frames (the audio, whose
 *   last moments are still on their way to the muxer, goes on AUDIO_TAIL_MS longer)
 * @property {() => void} close
 */

/**
 * A stable video track fed from a changing source (insertable streams; Chromium).
 * @implements {VideoRelayLike}
 */
export class VideoRelay {
  /** @type {any} MediaStreamTrackGenerator */
  #generator;
  /** @type {WritableStreamDefaultWriter<VideoFrame>} */
  #writer;
  /** @type {MediaStreamTrack | null} */
  #source = null;
  /** @type {ReadableStreamDefaultReader<VideoFrame> | null} */
  #reader = null;
  #t0 = performance.now();
  #lastTimestamp = -1;
  #lastWrite = 0;
  #size = { ...DEFAULT_SIZE };
  /** @type {Map<string, Uint8Array>} black I420 planes by size */
  #black = new Map();
  /** @type {ReturnType<typeof setInterval>} */
  #filler;
  #closed = false;
  /** whether the recorder is about to stop (end): no more frames are written */
  #ended = false;
  /** whether the recorder started (begin): frames are written from then on */
  #begun = false;
  /** @type {VideoFrame | null} the latest source frame before begin(), written first */
  #held = null;
  /** @type {((at: number) => void) | null} told when the first frame is written, then forgotten */
  #onStart = null;
  /** @type {Promise<void>} writes happen one at a time, in order */
  #writing = Promise.resolve();

  constructor() {
    const g = /** @type {any} */ (globalThis);
    this.#generator = new g.MediaStreamTrackGenerator({ kind: 'video' });
    this.#writer = this.#generator.writable.getWriter();
    // Black frames start only if no source frame comes first (so the size rarely changes at the start).
    this.#lastWrite = performance.now();
    this.#filler = setInterval(() => this.#fill(), FILL_INTERVAL_MS);
  }

  /** @returns {MediaStreamTrack} */
  get track() {
    return this.#generator;
  }

  /** @param {MediaStreamTrack | null} track the video to relay from now on */
  setSource(track) {
    const usable = track && track.readyState === 'live' ? track : null;
    if (usable === this.#source) return;
    this.#source = usable;
    const reader = this.#reader;
    this.#reader = null;
    reader?.cancel().catch(() => {});
    if (usable) void this.#pump(usable);
  }

  /**
   * The recorder started: write the latest source frame now (or the next one, or black if none comes
   * within FILL_AFTER_MS), and tell `onStart` when (performance.now()): the audio must start at that
   * instant. Chromium's MP4 muxer starts each track at zero wherever its first sample lies: with the first
   * frame up to a frame interval after the first audio sample, a recording ran that much (measured: 24-50
   * ms) out of sync from start to end.
   * @param {(at: number) => void} onStart
   */
  begin(onStart) {
    if (this.#closed) return;
    this.#begun = true;
    this.#onStart = onStart;
    this.#lastWrite = performance.now(); // black frames only FILL_AFTER_MS from now
    const held = this.#held;
    this.#held = null;
    if (held) {
      this.#write(new VideoFrame(held, { timestamp: this.#nextTimestamp() }));
      held.close();
    }
  }

  end() {
    this.#ended = true;
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#filler);
    this.#held?.close();
    this.#held = null;
    this.setSource(null);
    this.#writing = this.#writing.then(() => this.#writer.close()).catch(() => {});
    this.#generator.stop();
  }

  /** @param {MediaStreamTrack} track */
  async #pump(track) {
    const g = /** @type {any} */ (globalThis);
    /** @type {ReadableStreamDefaultReader<VideoFrame>} */
    const reader = new g.MediaStreamTrackProcessor({ track }).readable.getReader();
    this.#reader = reader;
    try {
      for (;;) {
        const { value: frame, done } = await reader.read();
        if (done) break;
        if (this.#reader !== reader || this.#closed) {
          frame.close();
          break;
        }
        this.#size = { width: frame.displayWidth, height: frame.displayHeight };
        if (this.#ended) {
          frame.close();
          continue;
        }
        if (!this.#begun) {
          this.#held?.close();
          this.#held = frame;
          continue;
        }
        // Chromium's MediaRecorder times a generator's frames by when they are written, whatever
        // their timestamps say (measured), so each is written as soon as it is read.
        const timestamp = this.#nextTimestamp();
        const retimed = new VideoFrame(frame, { timestamp });
        frame.close();
        this.#write(retimed);
      }
    } catch (err) {
      if (!this.#closed) console.debug('netcall: video relay source ended', err);
    } finally {
      if (this.#reader === reader) this.#reader = null;
    }
  }

  /** @returns {number} microseconds on the relay's own clock, strictly increasing */
  #nextTimestamp() {
    const now = Math.round((performance.now() - this.#t0) * 1000);
    this.#lastTimestamp = Math.max(now, this.#lastTimestamp + 1);
    return this.#lastTimestamp;
  }

  /** @param {VideoFrame} frame */
  #write(frame) {
    this.#lastWrite = performance.now();
    const onStart = this.#onStart;
    this.#onStart = null;
    onStart?.(this.#lastWrite);
    this.#writing = this.#writing
      .then(() => (this.#closed ? frame.close() : this.#writer.write(frame)))
      .catch(() => {
        try {
          frame.close();
        } catch {
          // already closed by the writer
        }
      });
  }

  /** While no source frame comes, write black frames of the last size. */
  #fill() {
    if (this.#closed || !this.#begun || this.#ended || performance.now() - this.#lastWrite < FILL_AFTER_MS) return;
    this.#write(this.#blackFrame());
  }

  /** @returns {VideoFrame} a black frame of the last size, timed now */
  #blackFrame() {
    const width = Math.max(2, this.#size.width & ~1);
    const height = Math.max(2, this.#size.height & ~1);
    const key = `${width}x${height}`;
    let planes = this.#black.get(key);
    if (!planes) {
      planes = new Uint8Array((width * height * 3) / 2);
      planes.fill(16, 0, width * height); // Y: video black
      planes.fill(128, width * height); // U, V: no colour
      this.#black.clear();
      this.#black.set(key, planes);
    }
    return new VideoFrame(planes, {
      format: 'I420',
      codedWidth: width,
      codedHeight: height,
      timestamp: this.#nextTimestamp(),
    });
  }
}

/**
 * Where insertable streams are missing (Firefox, Safari): record the source track as it is at the
 * start. The recording keeps going when the track ends, but does not follow a new one.
 * @implements {VideoRelayLike}
 */
export class FixedVideo {
  /** @type {MediaStreamTrack | null} */
  track = null;
  /** @param {(at: number) => void} onStart */
  begin(onStart) {
    onStart(performance.now());
  }

  /** @param {MediaStreamTrack | null} track */
  setSource(track) {
    if (!this.track && track && track.readyState === 'live') this.track = track;
  }

  end() {}

  close() {}
}

/** @returns {VideoRelayLike} the best relay this browser offers */
export function createVideoRelay() {
  return canRelayVideoFrames() ? new VideoRelay() : new FixedVideo();
}
