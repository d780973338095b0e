// Local capture: the microphone and the camera, held in one local MediaStream.

import { ClientErrorCode, NetcallError, UnsupportedError } from './errors.js';

/** @typedef {'audio'|'video'} MediaKind */

/**
 * @typedef {object} DeviceOptions
 * @property {MediaTrackConstraints | boolean} [audio] constraints for the microphone (default: true)
 * @property {MediaTrackConstraints | boolean} [video] constraints for the camera (default: 640×480 at 15 fps, ideal)
 */

const DEFAULT_CONSTRAINTS = {
  audio: true,
  video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15 } },
};

/**
 * Map a getUserMedia failure to a NetcallError.
 * @param {MediaKind} kind
 * @param {unknown} err
 * @returns {NetcallError}
 */
function deviceError(kind, err) {
  const name = err instanceof Error ? err.name : '';
  const what = kind === 'audio' ? 'microphone' : 'camera';
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return new NetcallError(ClientErrorCode.DEVICE_DENIED, `access to the ${what} was refused`, { cause: err });
  }
  return new NetcallError(ClientErrorCode.DEVICE_UNAVAILABLE, `the ${what} could not be opened (${name || err})`, {
    cause: err,
  });
}

/** The local microphone and camera. Never touches the DOM. */
export class Devices {
  /** @type {MediaStream | null} created on first use */
  #stream = null;
  /** @type {Record<MediaKind, MediaStreamTrack | null>} */
  #tracks = { audio: null, video: null };
  /** @type {Record<MediaKind, boolean>} */
  #muted = { audio: false, video: false };
  /** @type {Record<MediaKind, Promise<MediaStreamTrack> | null>} */
  #starting = { audio: null, video: null };
  #constraints;
  #onTrack;

  /**
   * @param {object} init
   * @param {DeviceOptions} [init.constraints]
   * @param {(kind: MediaKind, track: MediaStreamTrack | null) => void} init.onTrack called when a track starts, changes or stops
   */
  constructor({ constraints = {}, onTrack }) {
    this.#constraints = { ...DEFAULT_CONSTRAINTS, ...constraints };
    this.#onTrack = onTrack;
  }

  /** @returns {MediaStream | null} the local stream, or null while no device runs */
  get stream() {
    return this.#stream && this.#stream.getTracks().length > 0 ? this.#stream : null;
  }

  /**
   * @param {MediaKind} kind
   * @returns {MediaStreamTrack | null}
   */
  track(kind) {
    return this.#tracks[kind];
  }

  /** @returns {{audio: boolean, video: boolean}} what we send: a running, unmuted device */
  media() {
    return {
      audio: Boolean(this.#tracks.audio) && !this.#muted.audio,
      video: Boolean(this.#tracks.video) && !this.#muted.video,
    };
  }

  /** @returns {{audio: boolean, video: boolean}} local mute flags */
  muted() {
    return { ...this.#muted };
  }

  /**
   * Start (or switch) a device. With the same device already running, returns its track.
   * @param {MediaKind} kind
   * @param {{deviceId?: string}} [options] pick a device by id (from navigator.mediaDevices.enumerateDevices)
   * @returns {Promise<MediaStreamTrack>}
   */
  async start(kind, { deviceId } = {}) {
    const running = this.#tracks[kind];
    if (running && running.readyState === 'live' && (!deviceId || running.getSettings().deviceId === deviceId)) {
      return running;
    }
    if (this.#starting[kind]) return this.#starting[kind];
    const promise = this.#open(kind, deviceId);
    this.#starting[kind] = promise;
    try {
      return await promise;
    } finally {
      this.#starting[kind] = null;
    }
  }

  /**
   * Stop a device, if it runs.
   * @param {MediaKind} kind
   */
  stop(kind) {
    const track = this.#tracks[kind];
    if (!track) return;
    this.#tracks[kind] = null;
    track.stop();
    this.#stream?.removeTrack(track);
    this.#onTrack(kind, null);
  }

  /** Stop every device. */
  stopAll() {
    this.stop('audio');
    this.stop('video');
  }

  /**
   * Mute or unmute the local track of `kind` (it keeps running, sending silence or black).
   * @param {MediaKind} kind
   * @param {boolean} muted
   */
  setMuted(kind, muted) {
    this.#muted[kind] = muted;
    const track = this.#tracks[kind];
    if (track) track.enabled = !muted;
  }

  /**
   * @param {MediaKind} kind
   * @param {string | undefined} deviceId
   * @returns {Promise<MediaStreamTrack>}
   */
  async #open(kind, deviceId) {
    if (!globalThis.navigator?.mediaDevices?.getUserMedia) {
      throw new UnsupportedError(
        ClientErrorCode.UNSUPPORTED,
        'this browser cannot capture media (getUserMedia is missing or the page is not secure)',
      );
    }
    let constraints = this.#constraints[kind];
    if (deviceId) constraints = { ...(typeof constraints === 'object' ? constraints : {}), deviceId: { exact: deviceId } };
    let captured;
    try {
      captured = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
    } catch (err) {
      throw deviceError(kind, err);
    }
    const track = captured.getTracks().find((t) => t.kind === kind);
    if (!track) throw new NetcallError(ClientErrorCode.DEVICE_UNAVAILABLE, `no ${kind} track was captured`);
    track.enabled = !this.#muted[kind];
    const old = this.#tracks[kind];
    this.#stream ??= new MediaStream();
    if (old) {
      old.stop();
      this.#stream.removeTrack(old);
    }
    this.#stream.addTrack(track);
    this.#tracks[kind] = track;
    // A device unplugged or revoked ends its track: treat it as stopped.
    track.addEventListener('ended', () => {
      if (this.#tracks[kind] === track) this.stop(kind);
    });
    this.#onTrack(kind, track);
    return track;
  }
}
