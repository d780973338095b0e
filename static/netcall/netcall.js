// The public entry point of the netcall browser SDK.
//
//   import { Netcall, NetcallError } from '/static/netcall/netcall.js'
//   const nc = new Netcall({ account, token })
//   nc.on('remoteTrack', ({ account, stream }) => ...)
//   const { members } = await nc.joinChannel({ channelName, type: Netcall.NETCALL_TYPE_VIDEO })
//
// Netcall composes the internal modules, each with one job: signalling.js (the WebSocket protocol),
// peers.js (the WebRTC mesh), devices.js (microphone and camera), events.js (the emitter),
// recorder.js (client recording). None of them touches the DOM or browser storage: what they need of
// it (IndexedDB, Web Locks, downloads) they receive as a Platform, the browser's (platform.js) wired
// in here; dom.js holds the helpers for pages.

import { consentAnswer, recordRequest } from './consent.js';
import { Devices } from './devices.js';
import { ClientErrorCode, InvalidStateError, NetcallError, NotFoundError, UnsupportedError } from './errors.js';
import { Emitter, NetcallEvent } from './events.js';
import { chooseRecordFolder, setRecordFolder } from './folder.js';
import { isServerAccount, liveStateChange } from './live.js';
import { Peers } from './peers.js';
import { browserPlatform } from './platform.js';
import { Recorder, recordStateChange } from './recorder.js';
import { Signalling, SignallingState } from './signalling.js';
import { resumePendingUploads } from './upload.js';

export { ClientErrorCode, NetcallError, InvalidStateError, UnsupportedError, NotFoundError, NetcallEvent };

// The public types, re-exported so that a page (or its TypeScript, through the declarations the
// package `netcall` ships) names them from this module alone: `import type { RecordResult } from 'netcall'`.
/** @typedef {import('./events.js').NetcallEventMap} NetcallEventMap */
/** @typedef {import('./events.js').NetcallEventName} NetcallEventName */
/** @typedef {import('./recorder.js').RecordOptions} RecordOptions */
/** @typedef {import('./recorder.js').StartResult} StartResult */
/** @typedef {import('./recorder.js').RecordResult} RecordResult */
/** @typedef {import('./recorder.js').RecordingInfo} RecordingInfo */
/** @typedef {import('./recorder.js').RecordState} RecordState */
/** @typedef {import('./recorder.js').RecordStateChange} RecordStateChange */
/** @typedef {import('./recorder.js').RecordEnded} RecordEnded */
/** @typedef {import('./recorder.js').SaveOption} SaveOption */
/** @typedef {import('./journal.js').RecoveredRecording} RecoveredRecording */
/** @typedef {import('./upload.js').UploadProgress} UploadProgress */
/** @typedef {import('./live.js').LiveState} LiveState */

/**
 * @typedef {object} NetcallOptions
 * @property {string} account our account
 * @property {string} token a join token minted by the server for this account
 * @property {string} [url] the signalling WebSocket's URL, e.g. 'wss://call.example.org/ws/netcall/';
 *   default ws(s)://<this page's host>/ws/netcall/ (a page served by the netcall server itself)
 * @property {RTCIceServer[]} [iceServers] overrides the server's list
 * @property {import('./devices.js').DeviceOptions} [constraints] getUserMedia constraints
 * @property {import('./signalling.js').SignallingOptions} [signalling] timings (tests)
 * @property {SaveOption} [recordSave] how recordings are saved unless a recording says otherwise:
 *   'download' (default), 'picker', 'none', ... (see recorder.js)
 */

/**
 * Names: 1–64 characters without slashes, control characters (C0, DEL, C1), format characters (bidi
 * overrides, zero-width), line or paragraph separators (docs/protocol.md; the server applies the same rule).
 */
const NAME_RE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}/\\]{1,64}$/u;

/**
 * @typedef {object} Member
 * @property {string} account
 * @property {string} session
 * @property {'member'|'host'|'cohost'|'recorder'} role
 * @property {{audio: boolean, video: boolean}} media
 * @property {number} [joinedAt]
 */

/**
 * @typedef {object} JoinOptions
 * @property {string} channelName the channel (room) to join
 * @property {number} [type] Netcall.NETCALL_TYPE_AUDIO or NETCALL_TYPE_VIDEO (default video)
 * @property {boolean} [liveEnable] live mode: the media also goes to the server recorder
 * @property {{rtmpUrl?: string, rtmpRecord?: boolean}} [sessionConfig] live mode settings (host only)
 * @property {string} [token] a join token for this channel, instead of the constructor's
 * @property {'ask' | 'allow'} [recordConsent] 'ask': anyone who wants to record you asks first (a
 *   'recordRequest' event, answered with respondRecordRequest); default: the server's setting for the channel
 */

/**
 * @typedef {object} JoinResult
 * @property {string} channelName
 * @property {string} account our account
 * @property {string} session our session id
 * @property {string[]} members the accounts of the other members
 * @property {Member[]} memberList the other members in full
 * @property {import('./recorder.js').RecordState[]} recordings recording notices running in the channel
 * @property {{role: string, session: string|null, host: string|null, record: boolean} | null} live the
 *   channel's live session and our role in it (live.js), or null
 */

/** A multi-party WebRTC call: one object per account, one channel at a time. */
export class Netcall {
  static NETCALL_TYPE_AUDIO = 1;
  static NETCALL_TYPE_VIDEO = 2;
  static DEVICE_TYPE_AUDIO_IN = 0;
  static DEVICE_TYPE_AUDIO_OUT_LOCAL = 1;
  static DEVICE_TYPE_AUDIO_OUT_CHAT = 2;
  static DEVICE_TYPE_VIDEO = 3;

  #account;
  #token;
  #url;
  /** @type {RTCIceServer[] | undefined} */
  #iceServers;
  /** @type {Emitter<NetcallEventMap>} the page's listeners (on/off/once) */
  #events = new Emitter();
  /** @type {Emitter<NetcallEventMap>} the SDK's own modules' listeners: `off(name)` without a function never reaches them */
  #internal = new Emitter();
  #devices;
  /** @type {Signalling | null} */
  #signalling = null;
  /** @type {Peers | null} */
  #peers = null;
  /** @type {Promise<JoinResult> | null} */
  #joining = null;
  /** @type {string | null} */
  #channel = null;
  /** @type {Member | null} */
  #self = null;
  /** @type {Map<string, Member>} remote members by account */
  #members = new Map();
  /** @type {{liveEnable: boolean, rtmpUrl?: string, rtmpRecord?: boolean} | null} */
  #live = null;
  /** @type {'ask' | 'allow' | undefined} what the join says about being recorded (undefined: the server's default) */
  #recordConsent = undefined;
  /** @type {string} */
  #connectionState = SignallingState.CLOSED;
  /** @type {import('./signalling.js').SignallingOptions} */
  #signallingOptions;
  /** @type {Recorder} client recording (recorder.js) */
  #recorder;

  /** @param {NetcallOptions} options */
  constructor({ account, token, url, iceServers, constraints, signalling, recordSave } = /** @type {any} */ ({})) {
    if (typeof account !== 'string' || !NAME_RE.test(account)) {
      throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, 'account must be 1-64 characters without slashes');
    }
    if (typeof token !== 'string' || token === '') {
      throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, 'a join token is required');
    }
    if (typeof RTCPeerConnection !== 'function') throw new UnsupportedError(ClientErrorCode.UNSUPPORTED, 'this browser has no WebRTC');
    this.#account = account;
    this.#token = token;
    this.#url = url ?? defaultUrl();
    this.#iceServers = iceServers;
    this.#signallingOptions = signalling ?? {};
    this.#devices = new Devices({ constraints, onTrack: (kind, track) => this.#onLocalTrack(kind, track) });
    this.#recorder = new Recorder(this.#recorderContext(), { platform: browserPlatform, save: recordSave });
  }

  // --- state ------------------------------------------------------------------------------------

  /** @returns {string} our account */
  get account() {
    return this.#account;
  }

  /** @returns {string | null} the joined channel, or null */
  get channelName() {
    return this.#channel;
  }

  /** @returns {string[]} the accounts of the other members of the channel */
  get members() {
    return [...this.#members.keys()];
  }

  /** @returns {string} 'connecting' | 'connected' | 'reconnecting' | 'closed' */
  get connectionState() {
    return this.#connectionState;
  }

  /**
   * A member's details (ourselves included), or null if not in the channel.
   * @param {string} account
   * @returns {Member | null}
   */
  getMember(account) {
    const member = account === this.#account ? this.#self : this.#members.get(account);
    return member ? structuredClone(member) : null;
  }

  /** @returns {MediaStream | null} our camera and microphone, or null while no device runs */
  getLocalStream() {
    return this.#devices.stream;
  }

  /**
   * The tracks received from a member, as one stream; null before the first track arrives.
   * @param {string} account
   * @returns {MediaStream | null}
   */
  getRemoteStream(account) {
    const stream = this.#peers?.get(account)?.stream;
    return stream && stream.getTracks().length > 0 ? stream : null;
  }

  /**
   * The peer connection to a member (for getStats), or null.
   * @param {string} account
   * @returns {RTCPeerConnection | null}
   */
  getPeerConnection(account) {
    return this.#peers?.get(account)?.connection ?? null;
  }

  // --- events -----------------------------------------------------------------------------------

  /**
   * Listen to an event (see NetcallEvent for names, NetcallEventMap for payloads).
   * @template {keyof NetcallEventMap} K
   * @param {K} name
   * @param {(payload: NetcallEventMap[K]) => unknown} fn
   * @returns {() => void} removes the listener
   */
  on(name, fn) {
    return this.#events.on(name, fn);
  }

  /**
   * Listen to an event once.
   * @template {keyof NetcallEventMap} K
   * @param {K} name
   * @param {(payload: NetcallEventMap[K]) => unknown} fn
   * @returns {() => void} removes the listener
   */
  once(name, fn) {
    return this.#events.once(name, fn);
  }

  /**
   * Stop listening.
   * @template {keyof NetcallEventMap} K
   * @param {K} name
   * @param {(payload: NetcallEventMap[K]) => unknown} [fn] without it, every listener of `name`
   */
  off(name, fn) {
    this.#events.off(name, fn);
  }

  /**
   * Emit an event: first to the SDK's own modules, then to the page's listeners.
   * @template {keyof NetcallEventMap} K
   * @param {K} name
   * @param {NetcallEventMap[K]} payload
   */
  #emit(name, payload) {
    this.#internal.emit(name, payload);
    this.#events.emit(name, payload);
  }

  // --- devices ----------------------------------------------------------------------------------

  /**
   * Start a device. Audio output types resolve at once: remote audio plays through the media
   * element a stream is attached to (see dom.js attachStream).
   * @param {{type: number, device?: {deviceId?: string}} | number} options
   * @returns {Promise<void>}
   */
  async startDevice(options) {
    const { type, device } = typeof options === 'number' ? { type: options, device: undefined } : options ?? {};
    const kind = deviceKind(type);
    if (!kind) return;
    await this.#devices.start(kind, { deviceId: device?.deviceId });
  }

  /**
   * Stop a device.
   * @param {{type: number} | number} options
   * @returns {Promise<void>}
   */
  async stopDevice(options) {
    const type = typeof options === 'number' ? options : options?.type;
    const kind = deviceKind(type);
    if (kind) this.#devices.stop(kind);
  }

  /**
   * Mute or unmute our microphone and/or camera; the channel is told.
   * @param {{audio?: boolean, video?: boolean}} mute true mutes, false unmutes, absent leaves as is
   * @returns {Promise<void>}
   */
  async setMute({ audio, video } = {}) {
    if (typeof audio === 'boolean') this.#devices.setMuted('audio', audio);
    if (typeof video === 'boolean') this.#devices.setMuted('video', video);
    await this.#sendMedia();
  }

  /** @returns {{audio: boolean, video: boolean}} our local mute flags */
  getMute() {
    return this.#devices.muted();
  }

  // --- channel ----------------------------------------------------------------------------------

  /**
   * Join a channel. Starts the microphone (and the camera for a video call) if they are not running;
   * a device that fails is reported as an 'error' event and the call goes on without it.
   * @param {JoinOptions} options
   * @returns {Promise<JoinResult>}
   */
  async joinChannel(options) {
    if (this.#joining || this.#signalling) {
      throw new InvalidStateError(ClientErrorCode.INVALID_STATE, 'already in a channel: call leaveChannel() first');
    }
    const { channelName, type = Netcall.NETCALL_TYPE_VIDEO, liveEnable, sessionConfig, token, recordConsent } =
      options ?? {};
    if (recordConsent !== undefined && recordConsent !== 'ask' && recordConsent !== 'allow') {
      throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, "recordConsent must be 'ask' or 'allow'");
    }
    this.#recordConsent = recordConsent;
    if (typeof channelName !== 'string' || !NAME_RE.test(channelName)) {
      throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, 'channelName must be 1-64 characters without slashes');
    }
    if (type !== Netcall.NETCALL_TYPE_AUDIO && type !== Netcall.NETCALL_TYPE_VIDEO) {
      throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, 'type must be NETCALL_TYPE_AUDIO or NETCALL_TYPE_VIDEO');
    }
    if (typeof token === 'string' && token) this.#token = token;
    this.#live = liveEnable
      ? { liveEnable: true, rtmpUrl: sessionConfig?.rtmpUrl, rtmpRecord: Boolean(sessionConfig?.rtmpRecord) }
      : null;
    const signalling = new Signalling(this.#url, this.#signallingOptions);
    this.#signalling = signalling;
    this.#setConnectionState(SignallingState.CONNECTING);
    this.#joining = this.#join(signalling, channelName, type);
    try {
      const joined = await this.#joining;
      // Uploads an earlier page of this browser left unfinished (a closed tab): finish them now.
      void this.resumeUploads().catch((err) => console.warn('netcall: resuming uploads failed', err));
      // Recordings an earlier page left unfinished (closed or crashed tab): recover them now.
      void this.recoverRecordings().catch((err) => console.warn('netcall: recovering recordings failed', err));
      return joined;
    } catch (err) {
      if (this.#signalling === signalling) this.#teardown();
      throw err;
    } finally {
      this.#joining = null;
    }
  }

  /**
   * Send what earlier pages left in this browser of recordings saved with `save: 'upload'` (kept in
   * IndexedDB until the server acknowledged them) and complete those uploads; progress arrives as
   * 'uploadProgress' events (state 'recovering' / 'recovered'). Runs by itself after each join.
   * @returns {Promise<{url: string, recordingId: string | null, state: string}[]>}
   */
  resumeUploads() {
    return resumePendingUploads({
      platform: browserPlatform,
      token: this.#token,
      emit: (name, payload) => this.#emit(name, payload),
    });
  }

  /**
   * Recover the recordings earlier pages of this origin left unfinished (the tab closed, crashed or
   * reloaded while recording, with any `save` but 'upload', which resumeUploads() finishes): each is
   * rebuilt from this browser's journal with its duration in the header, saved the way it was meant to
   * be where that needs no user gesture ('download'; a file handle this page may still write; 'picker'
   * falls back to a download; 'none' only returns it), and announced with a 'recordRecovered' event.
   * Runs by itself after each join.
   * @returns {Promise<import('./journal.js').RecoveredRecording[]>} what was recovered
   */
  recoverRecordings() {
    return this.#recorder.recover();
  }

  /**
   * Leave the channel. Devices keep running (stop them with stopDevice).
   * @returns {Promise<void>}
   */
  /**
   * Answer a 'recordRequest' event: may its recorder record you? Until you accept, nothing of you is
   * recorded by that request (a mix leaves your voice out). The answer is kept by the server with the
   * recording. Rejects with `not_found` (code `no_such_request`) for a request not waiting for you.
   * @param {string} id the request's id
   * @param {boolean} accept
   * @returns {Promise<{state: string}>}
   */
  async respondRecordRequest(id, accept) {
    if (typeof id !== 'string' || typeof accept !== 'boolean') {
      throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, 'respondRecordRequest(id: string, accept: boolean)');
    }
    const data = await this.#request('record.respond', { request: id, accept });
    return { state: data?.consent?.state ?? (accept ? 'accepted' : 'refused') };
  }

  async leaveChannel() {
    const signalling = this.#signalling;
    if (!signalling) return;
    this.#teardown();
    await signalling.leave();
  }

  /**
   * Leave the channel, stop every device and drop every listener.
   * @returns {Promise<void>}
   */
  async destroy() {
    await this.leaveChannel();
    this.#devices.stopAll();
    this.#events.removeAllListeners();
  }

  // --- client recording (recorder.js) -----------------------------------------------------------

  /**
   * Record one participant (audio and video): `startRecordMp4('bob')`, `startRecordMp4({account, path})`;
   * no account, or '', records yourself. Resolves once the recorder produces data.
   * @param {string | import('./recorder.js').RecordOptions} [target]
   * @returns {Promise<import('./recorder.js').StartResult>}
   */
  startRecordMp4(target) {
    return this.#recorder.startMp4(target);
  }

  /**
   * Stop recording a participant; resolves once the file is complete and saved.
   * @param {string | {account?: string}} [target] no account, or '', is yourself
   * @returns {Promise<import('./recorder.js').RecordResult>}
   */
  stopRecordMp4(target) {
    return this.#recorder.stopMp4(target);
  }

  /**
   * Record the mix of every voice in the call, yours included.
   * @param {import('./recorder.js').RecordOptions} [options] `path`, `save`, `format`
   * @returns {Promise<import('./recorder.js').StartResult>}
   */
  startRecordAac(options) {
    return this.#recorder.startAac(options);
  }

  /**
   * Stop recording the mix; resolves once the file is complete and saved.
   * @returns {Promise<import('./recorder.js').RecordResult>}
   */
  stopRecordAac() {
    return this.#recorder.stopAac();
  }

  /**
   * Ask the user for the recordings folder of `save: 'folder'` (a directory picker: call it from a click).
   * The choice is kept for this origin (IndexedDB); without it, the first such recording asks.
   * @returns {Promise<{name: string}>}
   */
  async chooseRecordFolder() {
    const handle = await chooseRecordFolder(browserPlatform);
    return { name: handle.name };
  }

  /**
   * Use `handle` as the recordings folder of `save: 'folder'` (e.g. `await navigator.storage.getDirectory()`,
   * the origin-private file system, which needs no permission); null forgets the folder.
   * @param {FileSystemDirectoryHandle | null} handle
   * @returns {Promise<void>}
   */
  setRecordFolder(handle) {
    return setRecordFolder(browserPlatform, handle);
  }

  /**
   * Pause recording a participant (both seed forms: `pauseRecordMp4('bob')`, `pauseRecordMp4({account})`;
   * none: yourself). Nothing is recorded until resumeRecordMp4; the file has no gap. Every member is told
   * (`recordStateChange` with state `paused`).
   * @param {string | {account?: string}} [target]
   * @returns {Promise<import('./recorder.js').PauseResult>}
   */
  pauseRecordMp4(target) {
    return this.#recorder.pauseMp4(target);
  }

  /**
   * Resume a paused recording of a participant (`recordStateChange` with state `resumed`).
   * @param {string | {account?: string}} [target]
   * @returns {Promise<import('./recorder.js').PauseResult>}
   */
  resumeRecordMp4(target) {
    return this.#recorder.resumeMp4(target);
  }

  /** @returns {Promise<import('./recorder.js').PauseResult>} pause recording the mix */
  pauseRecordAac() {
    return this.#recorder.pauseAac();
  }

  /** @returns {Promise<import('./recorder.js').PauseResult>} resume recording the mix */
  resumeRecordAac() {
    return this.#recorder.resumeAac();
  }

  /**
   * Live mode, host only: pause the server's recording of the broadcast (the RTMP push goes on). The
   * recorded files have no gap; the callback lists the paused intervals.
   * @returns {Promise<{paused: boolean}>}
   */
  pauseLiveRecord() {
    return this.#request('live.pause', {});
  }

  /** @returns {Promise<{paused: boolean}>} live mode, host only: resume the server's recording */
  resumeLiveRecord() {
    return this.#request('live.resume', {});
  }

  /** @returns {import('./recorder.js').RecordingInfo[]} running recordings (elapsed time, bytes so far) */
  getRecordings() {
    return this.#recorder.list();
  }

  /**
   * What a recorder needs from the call, without reaching into the rest of it.
   * @returns {import('./recorder.js').RecorderContext}
   */
  #recorderContext() {
    return {
      account: this.#account,
      channelName: () => this.#channel,
      localStream: () => this.getLocalStream(),
      remoteStream: (account) => this.getRemoteStream(account),
      members: () => this.members,
      request: (type, fields) => this.#request(type, fields),
      events: { on: (name, fn) => this.#internal.on(name, fn), emit: (name, payload) => this.#emit(name, payload) },
      token: () => this.#token,
    };
  }

  // --- internals --------------------------------------------------------------------------------

  /**
   * @param {Signalling} signalling
   * @param {string} channelName
   * @param {number} type
   * @returns {Promise<JoinResult>}
   */
  async #join(signalling, channelName, type) {
    await this.#startCallDevices(type);
    if (this.#signalling !== signalling) throw new NetcallError(ClientErrorCode.CLOSED, 'left before joining');
    signalling.on('state', ({ state }) => this.#onSignallingState(signalling, state));
    signalling.on('event', (frame) => this.#onServerEvent(frame));
    signalling.on('rejoined', (data) => this.#onJoined(data, { rejoin: true }));
    signalling.on('error', (err) => this.#emit(NetcallEvent.ERROR, err));
    const data = await signalling.join(() => this.#joinFields(channelName));
    this.#channel = channelName;
    return this.#onJoined(data, { rejoin: false });
  }

  /** @param {string} channelName */
  #joinFields(channelName) {
    /** @type {Record<string, unknown>} */
    // `account` lets the server refuse a token of someone else (token_wrong_account): the page must never
    // believe it is an account the server does not hold.
    const fields = { token: this.#token, channel: channelName, account: this.#account, media: this.#devices.media() };
    if (this.#live) fields.live = this.#live;
    if (this.#recordConsent) fields.recordConsent = this.#recordConsent;
    return fields;
  }

  /** @param {number} type */
  async #startCallDevices(type) {
    const kinds = /** @type {('audio'|'video')[]} */ (type === Netcall.NETCALL_TYPE_VIDEO ? ['audio', 'video'] : ['audio']);
    await Promise.all(
      kinds
        .filter((kind) => !this.#devices.track(kind))
        .map((kind) =>
          this.#devices.start(kind).catch((err) => {
            this.#emit(NetcallEvent.ERROR, err);
          }),
        ),
    );
  }

  /**
   * A (re-)join was acknowledged: (re)build the member list and the mesh. We joined last, so we offer.
   * @param {any} data the join ack's data
   * @param {{rejoin: boolean}} options
   * @returns {JoinResult}
   */
  #onJoined(data, { rejoin }) {
    /** @type {Member} */
    const self = data.self;
    /** @type {Member[]} */
    const everyone = (data.members ?? []).filter((/** @type {Member} */ m) => m.account !== this.#account);
    // Server participants (live.js) are reached only in live mode, and are not members for the page.
    const others = everyone.filter((/** @type {Member} */ m) => !isServerAccount(m.account));
    const servers = everyone.filter((/** @type {Member} */ m) => isServerAccount(m.account));
    this.#self = self;
    this.#peers?.closeAll();
    this.#peers = new Peers({
      selfAccount: this.#account,
      iceServers: this.#iceServers ?? data.iceServers ?? [],
      callbacks: {
        sendSignal: (to, toSession, signalData) => this.#request('signal', { to, toSession, data: signalData }),
        localTrack: (kind) => this.#devices.track(kind),
        onTrack: (account, track, stream) => this.#emit(NetcallEvent.REMOTE_TRACK, { account, track, stream }),
        onState: (account, state) => this.#emit(NetcallEvent.PEER_STATE, { account, state }),
        onError: (err) => this.#emit(NetcallEvent.ERROR, err),
      },
    });
    const previous = this.#members;
    this.#members = new Map(others.map((m) => [m.account, m]));
    if (rejoin) {
      for (const [account] of previous) {
        if (!this.#members.has(account)) {
          this.#emit(NetcallEvent.LEAVE_CHANNEL, { account, reason: 'left' });
        }
      }
    }
    if (this.#live) {
      for (const server of servers) this.#peers.open(server.account, server.session, { initiator: true });
    }
    for (const member of others) {
      this.#peers.open(member.account, member.session, { initiator: true });
      if (!previous.has(member.account)) {
        this.#emit(NetcallEvent.JOIN_CHANNEL, { account: member.account });
      } else {
        this.#emit(NetcallEvent.MEMBER_UPDATED, { account: member.account, media: { ...member.media } });
      }
    }
    return {
      channelName: /** @type {string} */ (this.#channel),
      account: this.#account,
      session: self.session,
      members: others.map((m) => m.account),
      memberList: structuredClone(others),
      recordings: data.recordings ?? [],
      live: data.live ?? null,
    };
  }

  /** @param {any} frame a server event */
  #onServerEvent(frame) {
    const peers = this.#peers;
    if (!peers) return;
    switch (frame.type) {
      case 'member.joined': {
        /** @type {Member} */
        const member = frame.member;
        if (!member || member.account === this.#account) return;
        if (isServerAccount(member.account)) {
          // A live session started (or its recorder restarted): live members offer to it.
          if (this.#live) peers.open(member.account, member.session, { initiator: true });
          return;
        }
        const known = this.#members.get(member.account);
        this.#members.set(member.account, member);
        if (known?.session === member.session) return;
        // New member, or a known account from a new session (reload, reconnect): it offers to us.
        peers.open(member.account, member.session, { initiator: false });
        if (!known) this.#emit(NetcallEvent.JOIN_CHANNEL, { account: member.account });
        else this.#emit(NetcallEvent.MEMBER_UPDATED, { account: member.account, media: { ...member.media } });
        return;
      }
      case 'member.left': {
        if (isServerAccount(frame.account)) {
          if (peers.get(frame.account)?.session === frame.session) peers.close(frame.account);
          return;
        }
        const known = this.#members.get(frame.account);
        if (!known || (frame.session && known.session !== frame.session)) return;
        this.#members.delete(frame.account);
        peers.close(frame.account);
        this.#emit(NetcallEvent.LEAVE_CHANNEL, { account: frame.account, reason: frame.reason ?? 'left' });
        return;
      }
      case 'member.updated': {
        /** @type {Member} */
        const member = frame.member;
        if (!member) return;
        if (member.account === this.#account) {
          this.#self = member;
          return;
        }
        const known = this.#members.get(member.account);
        if (!known || known.session !== member.session) return;
        this.#members.set(member.account, member);
        this.#emit(NetcallEvent.MEMBER_UPDATED, { account: member.account, media: { ...member.media } });
        return;
      }
      case 'signal':
        // Addressed to an earlier session of ours (we re-joined while it was in flight): not for this connection.
        if (frame.toSession && frame.toSession !== this.#self?.session) return;
        peers.handleSignal(frame.from, frame.fromSession, frame.data);
        return;
      case 'live.state':
        this.#emit(NetcallEvent.LIVE_STATE, liveStateChange(frame));
        return;
      case 'record.state':
        this.#emit(NetcallEvent.RECORD_STATE_CHANGE, recordStateChange(frame.record, frame.state, false));
        return;
      case 'record.request':
        this.#emit(NetcallEvent.RECORD_REQUEST, recordRequest(frame));
        return;
      case 'record.consent':
        this.#emit(NetcallEvent.RECORD_CONSENT, consentAnswer(frame));
        return;
      default:
        console.debug('netcall: ignoring server event', frame.type);
    }
  }

  /**
   * @param {Signalling} signalling
   * @param {string} state
   */
  #onSignallingState(signalling, state) {
    if (signalling !== this.#signalling) return;
    if (state === SignallingState.IDLE) return;
    this.#setConnectionState(state);
    // Closed by the server side (replaced, token expired on re-join): drop the call.
    if (state === SignallingState.CLOSED) this.#teardown();
  }

  /** @param {string} state */
  #setConnectionState(state) {
    if (state === this.#connectionState) return;
    this.#connectionState = state;
    this.#emit(NetcallEvent.CONNECTION_STATE, { state });
  }

  /** Forget the channel: close the mesh and the member list (not the devices). */
  #teardown() {
    this.#signalling = null;
    this.#peers?.closeAll();
    this.#peers = null;
    this.#members = new Map();
    this.#self = null;
    this.#channel = null;
    this.#setConnectionState(SignallingState.CLOSED);
  }

  /**
   * A local device started, switched or stopped: send the new track to everyone and tell the channel.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  #onLocalTrack(kind, track) {
    this.#emit(NetcallEvent.LOCAL_TRACK, { kind, track });
    if (!this.#peers) return;
    void this.#peers.setLocalTrack(kind, track);
    this.#sendMedia().catch((err) => console.debug('netcall: media update failed', err));
  }

  /** Tell the channel our media state, if joined. */
  async #sendMedia() {
    if (!this.#signalling || this.#joining || this.#connectionState !== SignallingState.CONNECTED) return;
    const data = await this.#request('media', this.#devices.media());
    if (data?.self) this.#self = data.self;
  }

  /**
   * @param {string} type
   * @param {object} [fields]
   * @returns {Promise<any>}
   */
  #request(type, fields) {
    if (!this.#signalling) {
      return Promise.reject(new InvalidStateError(ClientErrorCode.INVALID_STATE, 'not in a channel'));
    }
    return this.#signalling.request(type, fields);
  }
}

/** @returns {string} ws(s)://<host>/ws/netcall/ for the page's own host */
function defaultUrl() {
  const { protocol, host } = globalThis.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/ws/netcall/`;
}

/**
 * @param {number | undefined} type a Netcall.DEVICE_TYPE_*
 * @returns {'audio' | 'video' | null} the capture kind, or null for audio output types
 */
function deviceKind(type) {
  switch (type) {
    case Netcall.DEVICE_TYPE_AUDIO_IN:
      return 'audio';
    case Netcall.DEVICE_TYPE_VIDEO:
      return 'video';
    case Netcall.DEVICE_TYPE_AUDIO_OUT_LOCAL:
    case Netcall.DEVICE_TYPE_AUDIO_OUT_CHAT:
      return null;
    default:
      throw new NotFoundError(ClientErrorCode.NOT_FOUND, `unknown device type ${type}`);
  }
}
