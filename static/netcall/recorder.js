// Client recording: startRecordMp4 / stopRecordMp4 (one participant, audio + video) and
// startRecordAac / stopRecordAac (the mix of every voice), in the browser, with MediaRecorder.
//
//   call tracks ──> record-sources.js (stable tracks: WebAudio mix, video relay)
//               ──> MediaRecorder (timeslice) ──> webm-fix.js / mp4-fix.js (duration, cues)
//               ──> sinks.js (download | save-as file, streamed | Blob | registered, e.g. upload)
//               └─> journal.js (every chunk also in IndexedDB until saved: a closed tab loses nothing)
//
// Netcall owns one Recorder and delegates the public methods to it. The recorder sees the call
// only through the small context Netcall hands it (#recorderContext) and the call's events.

import { ClientErrorCode, InvalidStateError, NetcallError, NotFoundError, UnsupportedError } from './errors.js';
import { NetcallEvent } from './events.js';
import { canRecord, describeMimeType, pickFormat, recordFormats } from './formats.js';
import { JournalWriter, containerFixer, journalTargets, recoverJournals } from './journal.js';
import { ConsentBook } from './consent.js';
import { AUDIO_TAIL_MS, createAudioSource, createVideoRelay } from './record-sources.js';
import { folderRecordPath, recordFileName } from './save-path.js';
import { TeeSink, openSink } from './sinks.js';

export { recordFileName } from './save-path.js';

/** MediaRecorder hands out data this often (ms): what bounds memory and loss. */
const TIMESLICE_MS = 1000;
/** A keyframe at least this often (ms): MP4 fragments and WebM cues are cut at keyframes. */
const KEYFRAME_INTERVAL_MS = 2000;
/** The recorder must produce its first data within this time (ms), or start fails. */
const FIRST_DATA_TIMEOUT_MS = 20_000;
/** A MediaRecorder must report 'stop' within this time (ms) after stop(). */
const STOP_TIMEOUT_MS = 20_000;
/** A member who dropped (not left) may come back within this time (ms) and stay in the file. */
const REJOIN_GRACE_MS = 20_000;

/** @typedef {'mp4'|'aac'} RecordKind */
/** @typedef {import('./sinks.js').Sink} Sink */
/** @typedef {string | FileSystemFileHandle | Sink | (string | FileSystemFileHandle | Sink)[]} SaveOption */

/**
 * @typedef {object} RecordOptions
 * @property {string} [account] whom to record (startRecordMp4): a member, or yourself (absent or '')
 * @property {string} [path] a suggested file name; only its last component is used, and its
 *   extension is corrected to the container produced ('E:/test.mp4' -> 'test.mp4' or 'test.webm');
 *   with save: 'folder', its relative part inside the recordings folder ('E:/calls/2026/test.mp4' ->
 *   'calls/2026/test.mp4'; '..' is refused)
 * @property {SaveOption} [save] 'download' | 'picker' | 'folder' | 'none' | a FileSystemFileHandle | a
 *   registered sink name | a sink object; default: the Netcall's `recordSave`
 * @property {'mp4'|'webm'} [format] only this container (default: MP4 where the browser can, else WebM)
 * @property {number} [videoBitsPerSecond] default 1 Mbit/s
 * @property {number} [audioBitsPerSecond] default 128 kbit/s
 */

/**
 * @typedef {object} StartResult
 * @property {string} account whom (for the mix: your own account)
 * @property {RecordKind} kind
 * @property {string} fileName
 * @property {string} mimeType what the file is, codecs included
 * @property {number} startedAt when the recorder started (ms since the epoch)
 * @property {string} save how the file will be saved ('download', 'file', 'none', ...)
 */

/**
 * @typedef {object} RecordResult
 * @property {string} account
 * @property {RecordKind} kind
 * @property {Blob} blob the file (for file sinks, a disk-backed File)
 * @property {string} fileName
 * @property {string} mimeType
 * @property {number} size bytes
 * @property {number | null} duration seconds, as written in the file's header
 * @property {number} startedAt ms since the epoch
 * @property {number} stoppedAt ms since the epoch
 * @property {string} saved 'download' | 'file' | 'none' | what a registered sink says
 * @property {string} reason 'stopped', or why it ended by itself: 'left' (the member left),
 *   'disconnected' / 'expired' (the member dropped and did not come back), 'leftChannel' (you left)
 * @property {number} pausedSeconds how long it was paused (pauseRecordMp4 / pauseRecordAac): the file
 *   is that much shorter than stoppedAt - startedAt, with no gap * @property {string} [path] save: 'folder': where the file is inside the recordings folder ('calls/2026/test (1).mp4')
 * @property {string} [folder] save: 'folder': the recordings folder's name
 */

/**
 * @typedef {object} RecordingInfo
 * @property {string} account
 * @property {RecordKind} kind
 * @property {'starting'|'recording'|'paused'|'stopping'|'ended'} state
 * @property {string} fileName
 * @property {string} mimeType
 * @property {number} startedAt
 * @property {number} elapsed seconds recorded so far (paused time not counted)
 * @property {boolean} paused whether it is paused now
 * @property {number} pausedSeconds how long it has been paused in all, the current pause included
 * @property {number} size bytes written so far
 * @property {string} save
 */

/**
 * @typedef {object} RecorderContext
 * @property {string} account our account
 * @property {() => string | null} channelName the joined channel, or null
 * @property {() => MediaStream | null} localStream
 * @property {(account: string) => MediaStream | null} remoteStream
 * @property {() => string[]} members remote accounts
 * @property {(type: string, fields?: object) => Promise<any>} request a signalling request
 * @property {import('./events.js').EventChannel} events the call's events: `on` listens on the SDK's internal
 *   channel (a page's `off(name)` never removes it), `emit` reaches the internal channel and the page
 * @property {() => string} [token] the join token (save: 'upload' authenticates with it)
 */

/**
 * A recording notice of the wire protocol (docs/protocol.md `RecordState`): who records whom.
 * @typedef {object} RecordState
 * @property {string} [recorder] the recording member's account
 * @property {string | null} [target] whom (null: the mix)
 * @property {string} [kind] 'mp4' | 'aac'
 * @property {string} [startedAt]
 * @property {boolean} [paused] whether it is paused now
 * @property {string | null} [pausedAt] since when (ISO time), while paused
 * @property {number} [pausedSeconds] how long it was paused before the current pause
 */

/**
 * The payload of a 'recordStateChange' event: someone in the channel (you included) started or
 * stopped recording someone.
 * @typedef {object} RecordStateChange
 * @property {string | null} recorder
 * @property {string | null} target whom (null: the mix)
 * @property {string | null} kind 'mp4' | 'aac'
 * @property {string | null} startedAt
 * @property {string} state 'started' | 'paused' | 'resumed' | 'stopped'
 * @property {boolean} local whether it is one of our own recordings
 */

/**
 * What pauseRecordMp4 / resumeRecordMp4 / pauseRecordAac / resumeRecordAac resolve with.
 * @typedef {object} PauseResult
 * @property {string} account whom (for the mix: your own account)
 * @property {RecordKind} kind
 * @property {'paused'|'recording'} state
 * @property {number} elapsed seconds recorded so far (paused time not counted)
 * @property {number} pausedSeconds how long it has been paused in all
 */

/**
 * The payload of a 'recordEnded' event: one of our recordings ended without stop being called.
 * @typedef {object} RecordEnded
 * @property {string} account
 * @property {RecordKind} kind
 * @property {string} reason 'left' | 'disconnected' | 'expired' | 'leftChannel' | 'error'
 * @property {RecordResult | null} result the file (null when it could not be saved)
 * @property {NetcallError | null} error
 */

/**
 * The payload of a 'recordStateChange' event.
 * @param {RecordState | undefined} record
 * @param {string} state 'started' | 'paused' | 'resumed' | 'stopped'
 * @param {boolean} local whether it is one of our own recordings
 * @returns {RecordStateChange}
 */
export function recordStateChange(record, state, local) {
  return {
    recorder: record?.recorder ?? null,
    target: record?.target ?? null,
    kind: record?.kind ?? null,
    startedAt: record?.startedAt ?? null,
    state,
    local,
  };
}

/** @param {Date} date @returns {string} 'YYYYMMDD-HHMMSS' in local time */
function stamp(date) {
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-` +
    `${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`
  );
}

/**
 * The name a recording gets when `path` names none: `<account>-<stamp>` for a participant,
 * `mix-<channel>-<stamp>` for the mix (recordFileName() cleans it).
 * @param {RecordKind} kind
 * @param {string} account whom
 * @param {string} channelName
 * @param {Date} date when it starts
 * @returns {string}
 */
export function defaultStem(kind, account, channelName, date) {
  return kind === 'aac' ? `mix-${channelName}-${stamp(date)}` : `${account}-${stamp(date)}`;
}

/**
 * A file name for another container: the recorder fell back to another format before the first byte.
 * @param {string} fileName ending in `from`
 * @param {string} from the old extension, with its dot
 * @param {string} to the new one
 * @returns {string}
 */
export function withExtension(fileName, from, to) {
  const stem = fileName.endsWith(from) ? fileName.slice(0, fileName.length - from.length) : fileName;
  return `${stem}${to}`;
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {() => Error} error
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, error) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One recording: its sources, MediaRecorder, fixer and sink. */
class Recording {
  /** @type {'starting'|'recording'|'paused'|'stopping'|'ended'} */
  state = 'starting';
  /** @type {MediaRecorder | null} */
  mediaRecorder = null;
  /** @type {Sink | null} */
  sink = null;
  /** @type {import('./record-sources.js').AudioSourceLike | null} */
  mix = null;
  /** @type {import('./record-sources.js').VideoRelayLike | null} */
  video = null;
  /** @type {import('./journal.js').Fixer} */
  fixer;
  /** @type {JournalWriter | null} the crash journal (journal.js), null without IndexedDB or for uploads */
  journal = null;
  /** @type {Promise<void>} chunks are handled one at a time, in order */
  queue = Promise.resolve();
  /** @type {unknown} the first write failure */
  failure = null;
  startedAt = 0;
  written = 0;
  /** @type {Promise<RecordResult> | null} */
  finishing = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  graceTimer;
  announced = false;
  save = 'download';
  /** when the current pause began (ms since the epoch), 0 while not paused */
  pausedAt = 0;
  /** ms paused before the current pause */
  pausedMs = 0;
  /** @type {{excluded: Set<string>, close: () => void} | null} a mix's members left out for want of consent */
  consent = null;

  /**
   * @param {object} init
   * @param {string} init.key
   * @param {RecordKind} init.kind
   * @param {string} init.account whom (our own account for the mix)
   * @param {boolean} init.self whether we record ourselves (or the mix)
   * @param {import('./formats.js').RecordFormat} init.format
   * @param {string} init.fileName
   */
  constructor({ key, kind, account, self, format, fileName }) {
    this.key = key;
    this.kind = kind;
    this.account = account;
    this.self = self;
    this.format = format;
    this.fileName = fileName;
    this.fixer = containerFixer(format.container);
  }

  /** @returns {string | null} the server's `target` for this recording */
  get target() {
    return this.kind === 'aac' ? null : this.account;
  }

  /** @returns {boolean} running: recording or paused */
  get running() {
    return this.state === 'recording' || this.state === 'paused';
  }

  /** @param {number} now ms since the epoch @returns {number} ms paused in all, up to `now` */
  pausedUntil(now) {
    return this.pausedMs + (this.pausedAt ? Math.max(0, now - this.pausedAt) : 0);
  }

  /** @param {number} now @returns {number} seconds recorded up to `now`, paused time not counted */
  elapsedAt(now) {
    return this.startedAt ? Math.max(0, now - this.startedAt - this.pausedUntil(now)) / 1000 : 0;
  }
}

/** The recordings of one Netcall. */
export class Recorder {
  #ctx;
  /** @type {SaveOption} */
  #defaultSave;
  /** @type {ConsentBook} the answers to requests to record members who are asked first */
  #consent;
  /** @type {Map<string, Recording>} running (or starting / stopping) recordings by key */
  #active = new Map();
  /** @type {Map<string, RecordResult>} recordings that ended by themselves, until stop collects them */
  #ended = new Map();
  /** @type {AudioContext | null} */
  #audio = null;
  #reconnecting = false;
  /** @type {Promise<import('./journal.js').RecoveredRecording[]> | null} */
  #recovering = null;
  #platform;

  /**
   * @param {RecorderContext} ctx
   * @param {{platform: import('./platform.js').Platform, save?: SaveOption}} options `platform`: storage,
   *   locks, downloads (platform.js); `save`: the default for every recording ('download')
   */
  constructor(ctx, { platform, save = 'download' }) {
    this.#ctx = ctx;
    this.#platform = platform;
    this.#defaultSave = save;
    const events = ctx.events;
    this.#consent = new ConsentBook(events);
    events.on(NetcallEvent.REMOTE_TRACK, ({ account }) => this.#onMemberMedia(account));
    events.on(NetcallEvent.JOIN_CHANNEL, ({ account }) => this.#onMemberMedia(account));
    events.on(NetcallEvent.LEAVE_CHANNEL, ({ account, reason }) => this.#onMemberLeft(account, reason));
    events.on(NetcallEvent.LOCAL_TRACK, () => this.#onMemberMedia(ctx.account));
    events.on(NetcallEvent.CONNECTION_STATE, ({ state }) => this.#onConnectionState(state));
  }

  /** @param {SaveOption} save the default for recordings started from now on */
  set defaultSave(save) {
    this.#defaultSave = save;
  }

  /** @returns {SaveOption} */
  get defaultSave() {
    return this.#defaultSave;
  }

  // --- public API (Netcall delegates here) -------------------------------------------------------

  /**
   * @param {string | RecordOptions | null | undefined} target an account, or the options object
   * @returns {Promise<StartResult>}
   */
  startMp4(target) {
    const options = typeof target === 'object' && target !== null ? target : { account: target ?? undefined };
    const account = options.account || this.#ctx.account;
    return this.#start('mp4', account, options);
  }

  /**
   * @param {string | {account?: string} | null | undefined} target
   * @returns {Promise<RecordResult>}
   */
  stopMp4(target) {
    const key = this.#mp4Key(target);
    return this.#stop(key, `${key.slice(4)} is not being recorded`);
  }

  /**
   * @param {RecordOptions} [options]
   * @returns {Promise<StartResult>}
   */
  startAac(options) {
    return this.#start('aac', this.#ctx.account, typeof options === 'object' && options !== null ? options : {});
  }

  /** @returns {Promise<RecordResult>} */
  stopAac() {
    return this.#stop('aac', 'the mix is not being recorded');
  }

  /**
   * Pause a participant's recording: nothing is recorded until resumeMp4; the file has no gap.
   * @param {string | {account?: string} | null | undefined} target
   * @returns {Promise<PauseResult>}
   */
  pauseMp4(target) {
    return this.#pause(this.#mp4Key(target), true);
  }

  /**
   * @param {string | {account?: string} | null | undefined} target
   * @returns {Promise<PauseResult>}
   */
  resumeMp4(target) {
    return this.#pause(this.#mp4Key(target), false);
  }

  /** @returns {Promise<PauseResult>} pause the mix */
  pauseAac() {
    return this.#pause('aac', true);
  }

  /** @returns {Promise<PauseResult>} resume the mix */
  resumeAac() {
    return this.#pause('aac', false);
  }

  /** @param {string | {account?: string} | null | undefined} target @returns {string} */
  #mp4Key(target) {
    const account = (typeof target === 'object' && target !== null ? target.account : target) || this.#ctx.account;
    return `mp4:${account}`;
  }

  /**
   * Recover what earlier pages of this origin left unfinished (journal.js): each recording is
   * replayed, its duration fixed, saved like the original where no user gesture is needed, and
   * announced with a 'recordRecovered' event. A call while one runs shares it.
   * @returns {Promise<import('./journal.js').RecoveredRecording[]>}
   */
  recover() {
    this.#recovering ??= recoverJournals({
      platform: this.#platform,
      onRecovered: (result) => this.#ctx.events.emit(NetcallEvent.RECORD_RECOVERED, result),
    }).finally(() => {
      this.#recovering = null;
    });
    return this.#recovering;
  }

  /** @returns {RecordingInfo[]} every recording that runs (or has ended and waits for stop) */
  list() {
    const now = Date.now();
    /** @type {RecordingInfo[]} */
    const out = [...this.#active.values()].map((r) => ({
      account: r.account,
      kind: r.kind,
      state: r.state,
      fileName: r.fileName,
      mimeType: r.format.mimeType,
      startedAt: r.startedAt,
      elapsed: r.elapsedAt(now),
      paused: r.state === 'paused',
      pausedSeconds: r.pausedUntil(now) / 1000,
      size: r.written,
      save: r.save,
    }));
    for (const result of this.#ended.values()) {
      out.push({
        account: result.account,
        kind: result.kind,
        state: 'ended',
        fileName: result.fileName,
        mimeType: result.mimeType,
        startedAt: result.startedAt,
        elapsed: (result.stoppedAt - result.startedAt) / 1000 - result.pausedSeconds,
        paused: false,
        pausedSeconds: result.pausedSeconds,
        size: result.size,
        save: result.saved,
      });
    }
    return out;
  }

  // --- start -------------------------------------------------------------------------------------

  /**
   * @param {RecordKind} kind
   * @param {string} account
   * @param {RecordOptions} options
   * @returns {Promise<StartResult>}
   */
  async #start(kind, account, options) {
    // Everything up to opening the sink is synchronous: a save-as dialog needs the user's gesture.
    const channel = this.#ctx.channelName();
    if (!channel) throw new InvalidStateError(ClientErrorCode.NOT_IN_CHANNEL, 'not in a channel: join one first');
    const self = account === this.#ctx.account;
    if (kind === 'mp4' && !self && !this.#ctx.members().includes(account)) {
      throw new NotFoundError(ClientErrorCode.NO_SUCH_ACCOUNT, `${account} is not in the channel`);
    }
    const key = kind === 'aac' ? 'aac' : `mp4:${account}`;
    if (this.#active.has(key)) {
      const what = kind === 'aac' ? 'the mix' : account;
      throw new InvalidStateError(ClientErrorCode.ALREADY_RECORDING, `already recording ${what}`);
    }
    if (options.format !== undefined && !['mp4', 'webm'].includes(options.format)) {
      throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, "format must be 'mp4' or 'webm'");
    }
    const media = kind === 'aac' ? 'audio' : 'video';
    const format = pickFormat(media, { format: options.format });
    if (!format) {
      throw new UnsupportedError(
        ClientErrorCode.NO_SUPPORTED_FORMAT,
        canRecord()
          ? `this browser cannot record ${options.format ?? 'MP4 or WebM'} ${media}`
          : 'this browser cannot record (no MediaRecorder)',
      );
    }
    const stem = defaultStem(kind, account, channel, new Date());
    const save = options.save ?? this.#defaultSave;
    // save: 'folder' writes to the path's relative part: refuse one that climbs out before anything starts.
    const toFolder = save === 'folder' || (Array.isArray(save) && save.includes('folder'));
    const folderPath = toFolder ? folderRecordPath(options.path, stem, format.extension) : undefined;
    const recording = new Recording({
      key,
      kind,
      account,
      self,
      format,
      fileName: recordFileName(options.path, stem, format.extension),
    });
    this.#ended.delete(key);
    this.#active.set(key, recording);
    // Pending while a member who is asked first has not answered (consent.js); refused: record_refused.
    const announce = this.#consent.started(this.#ctx.request('record.start', { target: recording.target ?? undefined, kind }));
    announce.catch(() => {}); // handled below; not an unhandled rejection meanwhile
    try {
      const request = {
        fileName: recording.fileName,
        mimeType: format.mimeType,
        extension: format.extension,
        recording: { account, kind, channelName: channel },
        folderPath,
      };
      const sinkPromise = openSink(save, request, {
        platform: this.#platform,
        // for save: 'upload' (upload.js): the join token and the SDK's events
        token: this.#ctx.token?.() ?? '',
        emit: this.#ctx.events.emit,
        // the announcement the upload waits for: the server accepts its `target` only once record.start is in
        announced: announce,
      });
      recording.sink = await sinkPromise;
      recording.save = recording.sink.kind;
      const targets = journalTargets(save, recording.sink);
      if (targets.length > 0) {
        recording.journal = await JournalWriter.open(this.#platform, () => ({
          account,
          kind,
          channelName: channel,
          fileName: recording.fileName,
          mimeType: recording.format.mimeType,
          container: recording.format.container,
          targets,
          startedAt: recording.startedAt,
          pausedMs: recording.pausedUntil(Date.now()),
          paused: recording.state === 'paused',
        })).catch((err) => {
          console.warn('netcall: no crash journal for this recording', err);
          return null;
        });
      }
      const ack = await announce.catch((err) => {
        throw err?.code === 'not_in_room'
          ? new NotFoundError(ClientErrorCode.NO_SUCH_ACCOUNT, `${account} is not in the channel`)
          : err;
      });
      recording.announced = true;
      if (kind === 'aac') {
        // The mix leaves out (silence) every member asked who has not accepted; an acceptance rewires it.
        recording.consent = this.#consent.mix(ack?.consent ?? [], () => this.#wire(recording));
      }
      await this.#startMedia(recording, options);
      this.#ctx.events.emit(NetcallEvent.RECORD_STATE_CHANGE, recordStateChange(ack?.record, 'started', true));
      return {
        account,
        kind,
        fileName: recording.fileName,
        mimeType: recording.format.mimeType,
        startedAt: recording.startedAt,
        save: recording.save,
      };
    } catch (err) {
      this.#active.delete(key);
      if (recording.mediaRecorder && recording.mediaRecorder.state !== 'inactive') recording.mediaRecorder.stop();
      this.#release(recording);
      recording.state = 'ended';
      await recording.sink?.abort().catch(() => {});
      await recording.journal?.drop();
      // If the server announced it, take it back (quietly: we never said it started).
      recording.announced = false;
      const fields = { target: recording.target ?? undefined, kind };
      announce.then(() => this.#ctx.request('record.stop', fields)).catch(() => {});
      this.#idle();
      throw err;
    }
  }

  /**
   * Build the sources and the MediaRecorder; resolve on the first data. If the browser's encoder
   * refuses the chosen format (e.g. H.264 at a bit rate beyond its level), try the next one.
   * @param {Recording} recording
   * @param {RecordOptions} options
   */
  async #startMedia(recording, options) {
    recording.mix = await createAudioSource(() => this.#audioContext(), this.#platform);
    /** @type {MediaStreamTrack[]} */
    const tracks = [];
    if (recording.kind === 'mp4') {
      recording.video = createVideoRelay();
      this.#wire(recording);
      if (recording.video.track) tracks.push(recording.video.track);
    } else {
      this.#wire(recording);
    }
    tracks.push(recording.mix.track);
    const stream = new MediaStream(tracks);
    const media = recording.kind === 'aac' ? 'audio' : 'video';
    // Another container only where the sink can still change the file's name (not a picked file).
    const sink = recording.sink;
    const retarget = sink instanceof TeeSink ? sink.canRetarget : typeof sink?.retarget === 'function';
    const first = recording.format;
    const candidates = [
      first,
      ...recordFormats(media, { format: options.format }).filter(
        (f) => f.mimeType !== first.mimeType && (retarget || f.container === first.container),
      ),
    ];
    /** @type {unknown} */
    let failure = null;
    for (const format of candidates) {
      if (format !== recording.format) {
        console.info(`netcall: the recorder refused ${recording.format.mimeType} (${failure}); trying ${format.mimeType}`);
        if (format.container !== recording.format.container) {
          recording.fileName = withExtension(recording.fileName, recording.format.extension, format.extension);
          sink?.retarget?.({ fileName: recording.fileName, mimeType: format.mimeType });
        }
        recording.format = format;
        recording.fixer = containerFixer(format.container);
      }
      try {
        await this.#startRecorder(recording, stream, options);
        return;
      } catch (err) {
        failure = err;
        // Only an encoder that refused is worth another format; no data in time is not.
        if (!(err instanceof NetcallError && /** @type {any} */ (err).refused)) throw err;
      }
    }
    throw failure;
  }

  /**
   * Start a MediaRecorder with the recording's current format; resolve on its first data.
   * @param {Recording} recording
   * @param {MediaStream} stream
   * @param {RecordOptions} options
   */
  async #startRecorder(recording, stream, options) {
    /** @param {unknown} cause @returns {NetcallError} an encoder's refusal (another format may do) */
    const refused = (cause) => {
      const err = new NetcallError(ClientErrorCode.RECORDER_FAILED, `the browser's recorder failed: ${cause}`, { cause });
      /** @type {any} */ (err).refused = true;
      return err;
    };
    // The defaults RecordOptions names: 128 kbit/s of audio, 1 Mbit/s of video.
    const audioBitsPerSecond = options.audioBitsPerSecond ?? 128_000;
    const videoBitsPerSecond = options.videoBitsPerSecond ?? 1_000_000;
    /** @type {MediaRecorder} */
    let mediaRecorder;
    try {
      mediaRecorder = new MediaRecorder(stream, {
        mimeType: recording.format.mimeType,
        audioBitsPerSecond,
        ...(recording.kind === 'mp4'
          ? {
              videoBitsPerSecond,
              videoKeyFrameIntervalDuration: KEYFRAME_INTERVAL_MS,
            }
          : {}),
      });
    } catch (err) {
      throw refused(err);
    }
    recording.mediaRecorder = mediaRecorder;
    const current = () => recording.mediaRecorder === mediaRecorder;
    // The real type, codecs included, once the recorder has chosen them.
    const media = recording.kind === 'aac' ? 'audio' : 'video';
    /** @type {(value?: unknown) => void} */
    let gotData = () => {};
    /** @type {(err: unknown) => void} */
    let failed = () => {};
    const firstData = new Promise((resolve, reject) => {
      gotData = resolve;
      failed = reject;
    });
    mediaRecorder.addEventListener('dataavailable', (event) => {
      if (event.data.size === 0 || !current()) return;
      recording.journal?.append(event.data);
      recording.queue = recording.queue.then(() => this.#consume(recording, event.data));
      gotData();
    });
    mediaRecorder.addEventListener('error', (event) => {
      if (!current()) return;
      const cause = /** @type {any} */ (event).error ?? event;
      if (recording.state === 'starting') {
        failed(refused(cause));
        return;
      }
      const err = new NetcallError(ClientErrorCode.RECORDER_FAILED, `the browser's recorder failed: ${cause}`, { cause });
      void this.#end(recording, 'error', err);
    });
    mediaRecorder.addEventListener('start', () => {
      if (current()) recording.startedAt = Date.now();
    });
    try {
      mediaRecorder.start(TIMESLICE_MS);
      // The recorded audio and video start at the same instant (MP4 starts each track at zero).
      const mix = recording.mix;
      if (recording.video) recording.video.begin((at) => mix?.begin?.(at));
      else mix?.begin?.();
    } catch (err) {
      recording.mediaRecorder = null;
      throw refused(err);
    }
    recording.startedAt ||= Date.now();
    try {
      await withTimeout(
        firstData,
        FIRST_DATA_TIMEOUT_MS,
        () => new NetcallError(ClientErrorCode.RECORDER_FAILED, 'the browser recorded nothing in time'),
      );
    } catch (err) {
      recording.mediaRecorder = null;
      if (mediaRecorder.state !== 'inactive') mediaRecorder.stop();
      if (/** @type {any} */ (err).refused) recording.startedAt = 0;
      throw err;
    }
    if (mediaRecorder.mimeType) {
      const real = describeMimeType(media, mediaRecorder.mimeType);
      recording.format = { ...recording.format, mimeType: real.mimeType, videoCodec: real.videoCodec ?? recording.format.videoCodec, audioCodec: real.audioCodec ?? recording.format.audioCodec };
    }
    recording.state = 'recording';
  }

  /** @returns {Promise<AudioContext>} the shared, running AudioContext */
  async #audioContext() {
    if (!this.#audio || this.#audio.state === 'closed') this.#audio = new AudioContext({ latencyHint: 'playback' });
    if (this.#audio.state !== 'running') {
      await this.#audio.resume().catch(() => {});
    }
    return this.#audio;
  }

  /**
   * @param {Recording} recording
   * @param {Blob} data
   */
  async #consume(recording, data) {
    if (recording.failure || !recording.sink) return;
    try {
      const bytes = new Uint8Array(await data.arrayBuffer());
      for (const part of recording.fixer.push(bytes)) {
        await recording.sink.write(part);
        recording.written += part.length;
      }
    } catch (err) {
      recording.failure = err;
      const error = new NetcallError(ClientErrorCode.SAVE_FAILED, `the recording could not be saved: ${err}`, {
        cause: err,
      });
      if (recording.running) void this.#end(recording, 'error', error);
    }
  }

  // --- following the call ------------------------------------------------------------------------

  /**
   * Point a recording's sources at the call's current tracks.
   * @param {Recording} recording
   */
  #wire(recording) {
    const ctx = this.#ctx;
    const mix = recording.mix;
    if (!mix) return;
    if (recording.kind === 'aac') {
      const local = ctx.localStream()?.getAudioTracks()[0] ?? null;
      mix.set(ctx.account, local);
      const members = new Set(ctx.members());
      for (const key of mix.keys) if (key !== ctx.account && !members.has(key)) mix.set(key, null);
      for (const account of members) {
        const leftOut = recording.consent?.excluded.has(account);
        mix.set(account, leftOut ? null : (ctx.remoteStream(account)?.getAudioTracks()[0] ?? null), { remote: true });
      }
      return;
    }
    const stream = recording.self ? ctx.localStream() : ctx.remoteStream(recording.account);
    mix.set(recording.account, stream?.getAudioTracks()[0] ?? null, { remote: !recording.self });
    recording.video?.setSource(stream?.getVideoTracks()[0] ?? null);
  }

  /** @param {string} account whose media changed (or who joined) */
  #onMemberMedia(account) {
    for (const recording of this.#active.values()) {
      if (recording.state === 'ended' || recording.state === 'stopping') continue;
      if (recording.kind === 'aac' || recording.account === account) {
        if (recording.account === account && recording.graceTimer !== undefined) {
          clearTimeout(recording.graceTimer);
          recording.graceTimer = undefined;
        }
        this.#wire(recording);
      }
    }
  }

  /**
   * @param {string} account
   * @param {string} reason 'left' | 'disconnected' | 'replaced' | 'expired'
   */
  #onMemberLeft(account, reason) {
    for (const recording of this.#active.values()) {
      if (recording.state === 'ended' || recording.state === 'stopping') continue;
      this.#wire(recording);
      if (recording.kind !== 'mp4' || recording.account !== account) continue;
      if (reason === 'left') {
        void this.#end(recording, 'left');
      } else if (recording.graceTimer === undefined) {
        // Dropped, not left: the file goes on (black, silent) in case they come back.
        recording.graceTimer = setTimeout(() => {
          recording.graceTimer = undefined;
          if (!this.#ctx.members().includes(account)) void this.#end(recording, reason);
        }, REJOIN_GRACE_MS);
      }
    }
  }

  /** @param {string} state the signalling connection's state */
  #onConnectionState(state) {
    if (state === 'reconnecting') {
      this.#reconnecting = true;
    } else if (state === 'connected' && this.#reconnecting) {
      // Our notices ended with our old session on the server: announce the running ones again.
      this.#reconnecting = false;
      for (const recording of this.#active.values()) {
        if (!recording.running) continue;
        const fields = { target: recording.target ?? undefined, kind: recording.kind };
        const paused = recording.state === 'paused';
        this.#ctx
          .request('record.start', fields)
          .then(() => (paused ? this.#ctx.request('record.pause', fields) : undefined))
          .catch((err) => console.debug('netcall: could not announce a recording again', err));
      }
    } else if (state === 'closed') {
      this.#reconnecting = false;
      for (const recording of [...this.#active.values()]) {
        if (recording.running) void this.#end(recording, 'leftChannel');
      }
    }
  }

  // --- pause and resume --------------------------------------------------------------------------

  /**
   * Pause (`pause`) or resume a running recording. MediaRecorder itself pauses: its timestamps go on
   * from the pause point, so the file has no gap and no frozen frame, and its header duration (the
   * fixers read the media's own timestamps) is the time recorded.
   * @param {string} key
   * @param {boolean} pause
   * @returns {Promise<PauseResult>}
   */
  async #pause(key, pause) {
    const recording = this.#active.get(key);
    const what = key === 'aac' ? 'the mix' : key.slice(4);
    if (!recording || !recording.running) {
      throw new InvalidStateError(ClientErrorCode.NOT_RECORDING, `${what} is not being recorded`);
    }
    const mediaRecorder = /** @type {MediaRecorder} */ (recording.mediaRecorder);
    const now = Date.now();
    if (pause && recording.state === 'recording') {
      // Hand out what the recorder holds first: a crash while paused then loses nothing recorded.
      mediaRecorder.requestData();
      mediaRecorder.pause();
      recording.state = 'paused';
      recording.pausedAt = now;
      recording.sink?.pause?.();
      recording.journal?.touch();
    } else if (!pause && recording.state === 'paused') {
      mediaRecorder.resume();
      recording.pausedMs += now - recording.pausedAt;
      recording.pausedAt = 0;
      recording.state = 'recording';
      recording.sink?.resume?.();
      recording.journal?.touch();
    } else {
      return this.#pauseResult(recording, now); // already so: nothing to do, nobody to tell
    }
    const state = pause ? 'paused' : 'resumed';
    const record = { recorder: this.#ctx.account, target: recording.target, kind: recording.kind };
    this.#ctx.events.emit(NetcallEvent.RECORD_STATE_CHANGE, recordStateChange(record, state, true));
    // The others are told through the server; the recording itself never waits for it.
    await this.#ctx
      .request(pause ? 'record.pause' : 'record.resume', { target: recording.target ?? undefined, kind: recording.kind })
      .catch((err) => console.debug(`netcall: record.${pause ? 'pause' : 'resume'} not delivered`, err));
    return this.#pauseResult(recording, Date.now());
  }

  /** @param {Recording} recording @param {number} now @returns {PauseResult} */
  #pauseResult(recording, now) {
    return {
      account: recording.account,
      kind: recording.kind,
      state: recording.state === 'paused' ? 'paused' : 'recording',
      elapsed: recording.elapsedAt(now),
      pausedSeconds: recording.pausedUntil(now) / 1000,
    };
  }

  // --- stop --------------------------------------------------------------------------------------

  /**
   * @param {string} key
   * @param {string} message for the not-recording error
   * @returns {Promise<RecordResult>}
   */
  async #stop(key, message) {
    const ended = this.#ended.get(key);
    if (ended) {
      this.#ended.delete(key);
      return ended;
    }
    const recording = this.#active.get(key);
    if (!recording || recording.state === 'starting') {
      throw new InvalidStateError(ClientErrorCode.NOT_RECORDING, message);
    }
    const result = await this.#finish(recording, 'stopped');
    this.#ended.delete(key);
    return result;
  }

  /**
   * A recording ended by itself: finish it, keep the result for stop, tell the page.
   * @param {Recording} recording
   * @param {string} reason
   * @param {NetcallError} [error]
   */
  async #end(recording, reason, error) {
    try {
      const result = await this.#finish(recording, reason);
      this.#ended.set(recording.key, result);
      this.#ctx.events.emit(NetcallEvent.RECORD_ENDED, {
        account: recording.account,
        kind: recording.kind,
        reason,
        result,
        error: error ?? null,
      });
    } catch (err) {
      const failure = /** @type {NetcallError} */ (err); // #finish() rejects with NetcallErrors only
      this.#ctx.events.emit(NetcallEvent.RECORD_ENDED, {
        account: recording.account,
        kind: recording.kind,
        reason: 'error',
        result: null,
        error: failure,
      });
      this.#ctx.events.emit(NetcallEvent.ERROR, failure);
    }
  }

  /**
   * Stop the recorder, finish the file, save it. Idempotent.
   * @param {Recording} recording
   * @param {string} reason
   * @returns {Promise<RecordResult>}
   */
  #finish(recording, reason) {
    recording.finishing ??= this.#doFinish(recording, reason);
    return recording.finishing;
  }

  /**
   * @param {Recording} recording
   * @param {string} reason
   * @returns {Promise<RecordResult>}
   */
  async #doFinish(recording, reason) {
    if (recording.state === 'paused') {
      recording.pausedMs += Date.now() - recording.pausedAt;
      recording.pausedAt = 0;
    }
    recording.state = 'stopping';
    clearTimeout(recording.graceTimer);
    const mediaRecorder = /** @type {MediaRecorder} */ (recording.mediaRecorder);
    const sink = /** @type {Sink} */ (recording.sink);
    try {
      if (mediaRecorder.state !== 'inactive') {
        // The audio source holds back its last moments (late inputs still fit): hand them in first.
        await recording.mix?.drain();
        // The video ends here, the audio a moment later (AUDIO_TAIL_MS: what is on its way when the
        // recorder stops is lost), so that both end together in the file.
        if (recording.video) {
          recording.video.end();
          await new Promise((resolve) => setTimeout(resolve, AUDIO_TAIL_MS));
        }
        const stopped = new Promise((resolve) => mediaRecorder.addEventListener('stop', resolve, { once: true }));
        mediaRecorder.stop();
        await withTimeout(
          stopped,
          STOP_TIMEOUT_MS,
          () => new NetcallError(ClientErrorCode.RECORDER_FAILED, 'the browser recorder did not stop'),
        );
      }
      const stoppedAt = Date.now();
      this.#release(recording);
      await recording.queue;
      if (recording.failure) throw recording.failure;
      const recorded = (stoppedAt - recording.startedAt - recording.pausedMs) / 1000;
      const { tail, patches, duration } = recording.fixer.finish(recorded);
      for (const part of tail) {
        await sink.write(part);
        recording.written += part.length;
      }
      for (const { position, data } of patches) await sink.patch(position, data);
      const saved = await sink.close();
      await recording.journal?.drop(); // saved: nothing left to recover
      return {
        account: recording.account,
        kind: recording.kind,
        blob: saved.blob,
        fileName: saved.fileName,
        mimeType: recording.format.mimeType,
        size: saved.blob.size,
        duration,
        startedAt: recording.startedAt,
        stoppedAt,
        saved: saved.saved,
        ...(saved.extra ?? {}), // save: 'upload' adds {recordingId, url, sha256, uploadUrl}
        reason,
        pausedSeconds: recording.pausedMs / 1000,
      };
    } catch (err) {
      this.#release(recording);
      await sink.abort().catch(() => {});
      // Not saved: the journal stays for recoverRecordings() on the next page load.
      await recording.journal?.keep();
      throw err instanceof NetcallError
        ? err
        : new NetcallError(ClientErrorCode.SAVE_FAILED, `the recording could not be saved: ${err}`, { cause: err });
    } finally {
      recording.state = 'ended';
      this.#active.delete(recording.key);
      this.#unannounce(recording);
      this.#idle();
    }
  }

  /** @param {Recording} recording stop its sources */
  #release(recording) {
    recording.consent?.close();
    recording.consent = null;
    recording.mix?.close();
    recording.mix = null;
    recording.video?.close();
    recording.video = null;
  }

  /** @param {Recording} recording tell the channel it stopped (if we still can) */
  #unannounce(recording) {
    if (!recording.announced) return;
    recording.announced = false;
    const record = { recorder: this.#ctx.account, target: recording.target, kind: recording.kind };
    this.#ctx.events.emit(NetcallEvent.RECORD_STATE_CHANGE, recordStateChange(record, 'stopped', true));
    if (!this.#ctx.channelName()) return; // left: the server ended our notices itself
    this.#ctx
      .request('record.stop', { target: recording.target ?? undefined, kind: recording.kind })
      .catch((err) => console.debug('netcall: record.stop not delivered', err));
  }

  /** Close the AudioContext when nothing records. */
  #idle() {
    if (this.#active.size > 0 || !this.#audio) return;
    const audio = this.#audio;
    this.#audio = null;
    audio.close().catch(() => {});
  }
}
