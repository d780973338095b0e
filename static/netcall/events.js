// A tiny event emitter, and the list of events the public Netcall object emits.

/**
 * Events of the public `Netcall` object, with the payload each listener receives.
 * @readonly
 * @enum {string}
 */
export const NetcallEvent = Object.freeze({
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
   * Someone in the channel (you included) started or stopped recording someone.
   * `{recorder, target, kind: 'mp4'|'aac', state: 'started'|'stopped', startedAt, local}` (target null for the mix)
   */
  RECORD_STATE_CHANGE: 'recordStateChange',
  /** A recording an earlier page left unfinished (the tab closed or crashed) was recovered from this
   * browser's journal and saved. `{account, kind, blob, fileName, mimeType, size, duration, startedAt,
   * stoppedAt, saved, reason: 'recovered', recovered: true}` (netcall.recoverRecordings()) */
  RECORD_RECOVERED: 'recordRecovered',
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
  /** Something went wrong outside a method call: a NetcallError with a stable `.code`. */
  ERROR: 'error',
});

/**
 * What an internal module gets of the call's events: listen (on the SDK's internal channel, out of
 * reach of the page's `off`) and emit (to the SDK's modules and the page alike).
 * @typedef {object} EventChannel
 * @property {(name: string, fn: (payload: any) => void) => () => void} on
 * @property {(name: string, payload?: unknown) => void} emit
 */

/** @param {string} name @param {unknown} err */
function warnListener(name, err) {
  console.warn(`netcall: a '${name}' listener threw`, err);
}

/**
 * Minimal event emitter. A listener that throws is logged with console.warn and never breaks the
 * emitter or the listeners after it.
 * @template {string} [K=string]
 */
export class Emitter {
  /** @type {Map<string, Set<Function>>} */
  #listeners = new Map();

  /**
   * Add a listener.
   * @param {K} name
   * @param {(payload: any) => void} fn
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
   * @param {K} name
   * @param {(payload: any) => void} fn
   * @returns {() => void} a function that removes the listener
   */
  once(name, fn) {
    const wrapper = (/** @type {any} */ payload) => {
      this.off(name, wrapper);
      fn(payload);
    };
    return this.on(name, wrapper);
  }

  /**
   * Remove a listener (or, without `fn`, every listener of `name`).
   * @param {K} name
   * @param {(payload: any) => void} [fn]
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
   * @param {K} name
   * @param {unknown} [payload]
   * @returns {boolean} whether anyone listened
   */
  emit(name, payload) {
    const set = this.#listeners.get(name);
    if (!set || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        const result = fn(payload);
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
