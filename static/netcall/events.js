// A tiny event emitter, and the list of events the public Netcall object emits with the type of
// each one's payload (NetcallEventMap).

/**
 * Events of the public `Netcall` object, with the payload each listener receives (typed in NetcallEventMap).
 * @readonly
 */
export const NetcallEvent = Object.freeze(/** @type {const} */ ({
  /** A remote member is in the channel: once per account, for those present when you join too. `{account}` */
  JOIN_CHANNEL: 'joinChannel',
  /** A remote member left the channel. `{account, reason}` (reason: left|disconnected|replaced|expired) */
  LEAVE_CHANNEL: 'leaveChannel',
  /** A remote track arrived; `stream` groups every track of that account. `{account, track, stream}` */
  REMOTE_TRACK: 'remoteTrack',
  /** A remote member changed its media state (mute, camera on/off). `{account, media: {audio, video}}` */
  MEMBER_UPDATED: 'memberUpdated',
  /** The signalling connection changed state. `{state}` (connecting|connected|reconnecting|closed) */
  CONNECTION_STATE: 'connectionState',
  /** The peer connection to a remote member changed state (RTCPeerConnection.connectionState). `{account, state}` */
  PEER_STATE: 'peerState',
  /**
   * Someone in the channel (you included) started, paused, resumed or stopped recording someone.
   * `{recorder, target, kind: 'mp4'|'aac'|'live', state: 'started'|'paused'|'resumed'|'stopped', startedAt, local}`
   * (target null for the mix; kind 'live' with recorder '#recorder': the server's recording of a live session)
   */
  RECORD_STATE_CHANGE: 'recordStateChange',
  /** A recording an earlier page left unfinished (the tab closed or crashed) was recovered from this
   * browser's journal and saved. `{account, kind, blob, fileName, mimeType, size, duration, startedAt,
   * stoppedAt, saved, reason: 'recovered', recovered: true}` (netcall.recoverRecordings()) */
  RECORD_RECOVERED: 'recordRecovered',
  /** A recording could not be saved where it asked (save: 'folder': no folder chosen, permission lapsed,
   * a frame that may not pick one) and is downloaded instead. `{account, kind, wanted, saved, reason, message}` */
  RECORD_SAVE_FALLBACK: 'recordSaveFallback',
  /** One of your recordings ended without stop being called (target left, you left, error). `{account, kind, reason, result, error}` */
  RECORD_ENDED: 'recordEnded',
  /** save: 'upload' progress. `{account, kind, uploadUrl, recordingId, sent, size, final, state}`, state:
   * uploading|retrying|complete|failed|recovering|recovered (recovered: an earlier page's upload, finished) */
  UPLOAD_PROGRESS: 'uploadProgress',
  /** Live mode: the state of the server's RTMP push, for the host (live.js LiveState).
   * `{state: connecting|pushing|retrying|failed|stopped|ended, session, attempt, retryIn, error, recording, reason}` */
  LIVE_STATE: 'liveState',
  /** The local stream gained or lost a track (startDevice/stopDevice). `{kind, track}` (track may be null) */
  LOCAL_TRACK: 'localTrack',
  /** Someone wants to record you (you joined with recordConsent 'ask'): answer with
   * respondRecordRequest(id, accept). `{id, recorder, kind}` (kind: 'mp4' you, 'aac' the mix) */
  RECORD_REQUEST: 'recordRequest',
  /** The answer to your request to record a member who is asked first. `{id, target, kind, state, record}`
   * (state: 'accepted' | 'refused'); a mix leaves out whoever has not accepted. */
  RECORD_CONSENT: 'recordConsent',
  /** Something went wrong outside a method call: a NetcallError with a stable `.code`. */
  ERROR: 'error',
}));

/** @typedef {(typeof NetcallEvent)[keyof typeof NetcallEvent]} NetcallEventName */

/**
 * The payload of each event of NetcallEvent: `on(name, (payload) => ...)` receives `NetcallEventMap[name]`.
 * @typedef {object} NetcallEventMap
 * @property {{account: string}} joinChannel
 * @property {{account: string, reason: string}} leaveChannel
 * @property {{account: string, track: MediaStreamTrack, stream: MediaStream}} remoteTrack
 * @property {{account: string, media: {audio: boolean, video: boolean}}} memberUpdated
 * @property {{state: string}} connectionState
 * @property {{account: string, state: RTCPeerConnectionState}} peerState
 * @property {import('./recorder.js').RecordStateChange} recordStateChange
 * @property {import('./journal.js').RecoveredRecording} recordRecovered
 * @property {import('./recorder.js').RecordEnded} recordEnded
 * @property {import('./folder.js').RecordSaveFallback} recordSaveFallback
 * @property {import('./upload.js').UploadProgress} uploadProgress
 * @property {import('./live.js').LiveState} liveState
 * @property {import('./consent.js').RecordRequest} recordRequest
 * @property {import('./consent.js').RecordConsentAnswer} recordConsent
 * @property {{kind: 'audio'|'video', track: MediaStreamTrack | null}} localTrack
 * @property {import('./errors.js').NetcallError} error
 */

/**
 * The payload of event `K`. Indexing the map by every name of NetcallEvent also checks, at type-check
 * time, that no event lacks its payload type.
 * @template {NetcallEventName} K
 * @typedef {NetcallEventMap[K]} NetcallEventPayload
 */

/**
 * What an internal module gets of the call's events: listen (on the SDK's internal channel, out of
 * reach of the page's `off`) and emit (to the SDK's modules and the page alike).
 * @typedef {object} EventChannel
 * @property {<K extends keyof NetcallEventMap>(name: K, fn: (payload: NetcallEventMap[K]) => void) => () => void} on
 * @property {<K extends keyof NetcallEventMap>(name: K, payload: NetcallEventMap[K]) => void} emit
 */

/** @param {PropertyKey} name @param {unknown} err */
function warnListener(name, err) {
  console.warn(`netcall: a '${String(name)}' listener threw`, err);
}

/**
 * Minimal event emitter. A listener that throws is logged with console.warn and never breaks the
 * emitter or the listeners after it.
 * @template {object} [M=Record<string, any>] the event map: each event's name to its payload's type
 */
export class Emitter {
  /** @type {Map<keyof M, Set<(payload: any) => unknown>>} */
  #listeners = new Map();

  /**
   * Add a listener.
   * @template {keyof M} K
   * @param {K} name
   * @param {(payload: M[K]) => unknown} fn
   * @returns {() => void} a function that removes the listener
   */
  on(name, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  /**
   * Add a listener called at most once.
   * @template {keyof M} K
   * @param {K} name
   * @param {(payload: M[K]) => unknown} fn
   * @returns {() => void} a function that removes the listener
   */
  once(name, fn) {
    const wrapper = (/** @type {M[K]} */ payload) => {
      this.off(name, wrapper);
      fn(payload);
    };
    return this.on(name, wrapper);
  }

  /**
   * Remove a listener (or, without `fn`, every listener of `name`).
   * @template {keyof M} K
   * @param {K} name
   * @param {(payload: M[K]) => unknown} [fn]
   */
  off(name, fn) {
    if (fn === undefined) {
      this.#listeners.delete(name);
      return;
    }
    this.#listeners.get(name)?.delete(fn);
  }

  /**
   * Call every listener of `name` with `payload`.
   * @template {keyof M} K
   * @param {K} name
   * @param {M[K]} payload
   * @returns {boolean} whether anyone listened
   */
  emit(name, payload) {
    const set = this.#listeners.get(name);
    if (!set || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        const result = /** @type {any} */ (fn(payload));
        // An async listener's rejection is a throw too.
        if (result && typeof result.then === 'function') {
          result.then(undefined, (/** @type {unknown} */ err) => warnListener(name, err));
        }
      } catch (err) {
        warnListener(name, err);
      }
    }
    return true;
  }

  /** Remove every listener. */
  removeAllListeners() {
    this.#listeners.clear();
  }
}
