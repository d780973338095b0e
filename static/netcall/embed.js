// Host-page helper: put a netcall call inside your own page, in an iframe, and drive it.
//
//   import { NetcallEmbed } from 'https://call.example.org/embed/embed.js'
//   const call = await NetcallEmbed.create({ container, account: 'alice', token })  // token from your backend
//   call.on('joinChannel', ({ account }) => ...)
//   await call.joinChannel({ channelName: 'demo', type: NetcallEmbed.NETCALL_TYPE_VIDEO })
//   await call.startRecordMp4('bob')
//   const { blob, fileName } = await call.stopRecordMp4('bob')   // the file, handed to this page
//
// The iframe shows /embed/ of the netcall server (only the call, sized to the frame). This page and the
// frame talk over postMessage: every message names the protocol, requests carry an id and get exactly
// one result, events are forwarded as they happen. Messages go to the frame's origin only, and only
// messages from that frame's window and origin are read. The frame, in turn, reads commands only from
// its parent and only from origins listed in the server's NETCALL_EMBED_ORIGINS, and posts only to its
// parent's origin (static/netcall/embed-bridge.js). The token travels in the 'init' message, never in
// a URL.
//
// Self-contained on purpose (no imports): load it from the netcall server (/embed/embed.js is served
// with CORS for cross-origin `import`) or copy it into your site.

/** The `protocol` field of every message between a host page and the embed frame. */
export const EMBED_PROTOCOL = 'netcall-embed';
/** Bumped when a message changes incompatibly. */
export const EMBED_VERSION = 1;
/** Features the frame needs; the iframe's `allow` attribute delegates them to the netcall origin. */
export const EMBED_ALLOW = Object.freeze(['camera', 'microphone', 'display-capture', 'autoplay', 'fullscreen']);

/**
 * Message types.
 * @readonly
 * @enum {string}
 */
export const EmbedMessage = Object.freeze({
  /** frame -> host: the frame listens; send 'init'. `{version}` */
  READY: 'ready',
  /** host -> frame: create the call object. `{id, options: {account, token, iceServers?, constraints?, recordSave?, ui?}}` */
  INIT: 'init',
  /** host -> frame: call a method of the call object. `{id, method, args}` */
  CALL: 'call',
  /** frame -> host: how a request settled. `{id, ok: true, value}` or `{id, ok: false, error: {name, code, message}}` */
  RESULT: 'result',
  /** frame -> host: an event of the call object. `{name, payload}` */
  EVENT: 'event',
});

const DEFAULT_READY_TIMEOUT_MS = 20_000;

/**
 * The codes of embedding's own errors, besides the SDK's (the frame's errors keep their codes).
 * @readonly
 */
export const EmbedErrorCode = Object.freeze(/** @type {const} */ ({
  /** The frame did not load or answer in time (is this origin in the server's NETCALL_EMBED_ORIGINS?). */
  TIMEOUT: 'embed_timeout',
  /** The frame was removed (destroy()) while a request waited, or is not attached. */
  CLOSED: 'embed_closed',
  /** Inside the frame: the embedding page's origin is not allowed (embed-bridge.js EmbedOriginError). */
  ORIGIN: 'embed_origin',
}));

/** A failure reported by the frame (the SDK's NetcallError, carried across), or by this helper. */
export class NetcallEmbedError extends Error {
  /**
   * @param {string} code stable machine-readable code (the SDK's codes, or an EmbedErrorCode)
   * @param {string} [message]
   * @param {string} [name] the original error's class name (NetcallError, InvalidStateError, ...)
   */
  constructor(code, message = code, name = 'NetcallEmbedError') {
    super(message);
    this.name = name;
    /** @type {string} */
    this.code = code;
  }
}

/**
 * @typedef {object} EmbedOptions
 * @property {HTMLElement} container the element the iframe goes into (it fills it)
 * @property {string} account the account the token was minted for
 * @property {string} token a join token from your backend (POST /api/tokens)
 * @property {string} [server] the netcall server's origin, e.g. 'https://call.example.org'; default:
 *   where this script was loaded from
 * @property {RTCIceServer[]} [iceServers] overrides the server's list
 * @property {object} [constraints] getUserMedia constraints (see the SDK)
 * @property {string | string[]} [recordSave] how recordings are saved unless a call says otherwise:
 *   'none' (default here: the stop result's Blob is handed to this page), 'download' (the frame
 *   downloads it), 'upload' (the frame uploads it to the netcall server), or a list of them
 * @property {{controls?: boolean}} [ui] `controls`: show the frame's mute buttons (default true)
 * @property {string} [title] the iframe's accessible title (default 'Call')
 * @property {number} [readyTimeout] ms to wait for the frame to load and answer (default 20 s)
 */

/** A call shown in an iframe of this page; the SDK's methods, as promises over postMessage. */
export class NetcallEmbed {
  static NETCALL_TYPE_AUDIO = 1;
  static NETCALL_TYPE_VIDEO = 2;
  static DEVICE_TYPE_AUDIO_IN = 0;
  static DEVICE_TYPE_AUDIO_OUT_LOCAL = 1;
  static DEVICE_TYPE_AUDIO_OUT_CHAT = 2;
  static DEVICE_TYPE_VIDEO = 3;

  /** @type {HTMLIFrameElement} */
  iframe;
  /** @type {string} the frame's origin */
  origin;
  #nextId = 1;
  /** @type {Map<number, {resolve: (value: any) => void, reject: (err: Error) => void}>} */
  #pending = new Map();
  /** @type {Map<string, Set<(payload: any) => void>>} */
  #listeners = new Map();
  /** @type {(event: MessageEvent) => void} */
  #onMessage;
  /** @type {() => void} */
  #frameReady = () => {};
  #closed = false;

  /**
   * Create the iframe, wait until the frame is ready and the call object exists.
   * @param {EmbedOptions} options
   * @returns {Promise<NetcallEmbed>}
   */
  static async create(options) {
    const embed = new NetcallEmbed(options);
    try {
      await embed.#start(options);
    } catch (err) {
      embed.destroy();
      throw err;
    }
    return embed;
  }

  /** @param {EmbedOptions} options use NetcallEmbed.create */
  constructor(options) {
    const { container, server } = options ?? /** @type {any} */ ({});
    if (!(container instanceof HTMLElement)) throw new TypeError('container must be an element');
    this.origin = new URL(server ?? import.meta.url).origin;
    this.#onMessage = (event) => this.#receive(event);
    window.addEventListener('message', this.#onMessage);
    const iframe = document.createElement('iframe');
    // Features the call needs, delegated to the netcall origin only (an `allow` entry without an
    // origin list means the iframe's src origin).
    iframe.allow = EMBED_ALLOW.join('; ');
    iframe.title = options.title ?? 'Call';
    iframe.style.cssText = 'border:0;width:100%;height:100%;display:block;';
    // The frame learns who its parent is from the fragment (never sent to the server) and checks it
    // against its allowed origins and, where the browser has it, location.ancestorOrigins.
    iframe.src = `${this.origin}/embed/#parent=${encodeURIComponent(window.location.origin)}`;
    this.iframe = iframe;
    container.append(iframe);
  }

  /** @param {EmbedOptions} options */
  async #start(options) {
    const timeoutMs = options.readyTimeout ?? DEFAULT_READY_TIMEOUT_MS;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const ready = new Promise((resolve, reject) => {
      this.#frameReady = () => resolve(undefined);
      timer = setTimeout(
        () =>
          reject(
            new NetcallEmbedError(
              EmbedErrorCode.TIMEOUT,
              `the call frame from ${this.origin} did not answer within ${timeoutMs} ms ` +
                '(is this origin in the server\'s NETCALL_EMBED_ORIGINS?)',
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await ready;
    } finally {
      clearTimeout(timer);
    }
    const { account, token, iceServers, constraints, recordSave, ui } = options;
    await this.#request({ type: EmbedMessage.INIT, options: { account, token, iceServers, constraints, recordSave, ui } });
  }

  // --- the SDK's methods -------------------------------------------------------------------------

  /** @param {object} options `{channelName, type, liveEnable?, sessionConfig?}` @returns {Promise<any>} */
  joinChannel(options) {
    return this.call('joinChannel', options);
  }

  /** @returns {Promise<void>} */
  leaveChannel() {
    return this.call('leaveChannel');
  }

  /** @param {string | object} [target] an account, or `{account, path, save, format}` @returns {Promise<any>} */
  startRecordMp4(target) {
    return this.call('startRecordMp4', target);
  }

  /** @param {string | object} [target] @returns {Promise<any>} `{account, kind, blob, fileName, mimeType, size, duration, ...}` */
  stopRecordMp4(target) {
    return this.call('stopRecordMp4', target);
  }

  /** @param {object} [options] `{path, save, format}` @returns {Promise<any>} */
  startRecordAac(options) {
    return this.call('startRecordAac', options);
  }

  /** @returns {Promise<any>} `{account, kind, blob, fileName, mimeType, size, duration, ...}` */
  stopRecordAac() {
    return this.call('stopRecordAac');
  }

  /** @param {string | object} [target] an account, or `{account}` @returns {Promise<any>} `{account, kind, state, elapsed, pausedSeconds}` */
  pauseRecordMp4(target) {
    return this.call('pauseRecordMp4', target);
  }

  /** @param {string | object} [target] @returns {Promise<any>} */
  resumeRecordMp4(target) {
    return this.call('resumeRecordMp4', target);
  }

  /** @returns {Promise<any>} */
  pauseRecordAac() {
    return this.call('pauseRecordAac');
  }

  /** @returns {Promise<any>} */
  resumeRecordAac() {
    return this.call('resumeRecordAac');
  }

  /** @param {object} options `{type}` @returns {Promise<void>} */
  startDevice(options) {
    return this.call('startDevice', options);
  }

  /** @param {object} options `{type}` @returns {Promise<void>} */
  stopDevice(options) {
    return this.call('stopDevice', options);
  }

  /** @param {{audio?: boolean, video?: boolean}} mute @returns {Promise<void>} */
  setMute(mute) {
    return this.call('setMute', mute);
  }

  /** @returns {Promise<{audio: boolean, video: boolean}>} */
  getMute() {
    return this.call('getMute');
  }

  /** @returns {Promise<object[]>} running recordings */
  getRecordings() {
    return this.call('getRecordings');
  }

  /** @returns {Promise<{account: string, channelName: string | null, members: string[], connectionState: string}>} */
  getState() {
    return this.call('getState');
  }

  /**
   * Call any method of the frame's call object by name; arguments and result must survive
   * structured cloning (MediaStreams and the like come back as `{id, kind}` descriptions).
   * @param {string} method
   * @param {...any} args
   * @returns {Promise<any>}
   */
  call(method, ...args) {
    while (args.length && args[args.length - 1] === undefined) args.pop();
    return this.#request({ type: EmbedMessage.CALL, method, args });
  }

  // --- events ------------------------------------------------------------------------------------

  /**
   * Listen to one of the SDK's events (joinChannel, leaveChannel, remoteTrack, memberUpdated,
   * connectionState, peerState, recordStateChange, recordEnded, recordRecovered, uploadProgress, localTrack, error).
   * Payloads are structured clones: MediaStream/track fields become `{id, kind}`, errors `{name, code, message}`.
   * @param {string} name
   * @param {(payload: any) => void} fn
   * @returns {() => void} removes the listener
   */
  on(name, fn) {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  /** @param {string} name @param {(payload: any) => void} fn @returns {() => void} */
  once(name, fn) {
    const wrapper = (/** @type {any} */ payload) => {
      this.off(name, wrapper);
      fn(payload);
    };
    return this.on(name, wrapper);
  }

  /** @param {string} name @param {(payload: any) => void} [fn] without it, every listener of `name` */
  off(name, fn) {
    if (fn === undefined) this.#listeners.delete(name);
    else this.#listeners.get(name)?.delete(fn);
  }

  /** Leave, remove the iframe, reject what is pending. */
  destroy() {
    if (this.#closed) return;
    this.#closed = true;
    window.removeEventListener('message', this.#onMessage);
    for (const { reject } of this.#pending.values()) {
      reject(new NetcallEmbedError(EmbedErrorCode.CLOSED, 'the call frame was removed'));
    }
    this.#pending.clear();
    this.#listeners.clear();
    this.iframe.remove(); // the frame's page unloads: it leaves the channel
  }

  // --- messaging ---------------------------------------------------------------------------------

  /**
   * @param {Record<string, unknown>} message
   * @returns {Promise<any>}
   */
  #request(message) {
    if (this.#closed) return Promise.reject(new NetcallEmbedError(EmbedErrorCode.CLOSED, 'the call frame was removed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#post({ ...message, id });
    });
  }

  /** @param {Record<string, unknown>} message */
  #post(message) {
    const target = this.iframe.contentWindow;
    if (!target) throw new NetcallEmbedError(EmbedErrorCode.CLOSED, 'the call frame is not attached');
    target.postMessage({ protocol: EMBED_PROTOCOL, version: EMBED_VERSION, ...message }, this.origin);
  }

  /** @param {MessageEvent} event */
  #receive(event) {
    // Only our frame, from the netcall origin, speaking our protocol.
    if (event.source !== this.iframe.contentWindow || event.origin !== this.origin) return;
    const data = event.data;
    if (!data || typeof data !== 'object' || data.protocol !== EMBED_PROTOCOL) return;
    switch (data.type) {
      case EmbedMessage.READY:
        this.#frameReady();
        return;
      case EmbedMessage.RESULT: {
        const pending = this.#pending.get(data.id);
        if (!pending) return;
        this.#pending.delete(data.id);
        if (data.ok) pending.resolve(data.value);
        else {
          const e = data.error ?? {};
          pending.reject(new NetcallEmbedError(String(e.code ?? 'error'), String(e.message ?? 'failed'), e.name));
        }
        return;
      }
      case EmbedMessage.EVENT: {
        const set = this.#listeners.get(data.name);
        if (!set) return;
        for (const fn of [...set]) {
          try {
            fn(data.payload);
          } catch (err) {
            console.warn(`netcall embed: a '${data.name}' listener threw`, err);
          }
        }
        return;
      }
      default:
    }
  }
}
