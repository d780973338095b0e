// The frame side of an embedded call: reads the host page's commands, runs them on a Netcall, posts
// back results and the Netcall's events. The host side is embed.js (its header describes the messages).
//
// Trust rules, all enforced here:
//   - the parent's origin is declared by the host page (the #parent= fragment embed.js sets) and must be
//     one of the allowed origins (the server's NETCALL_EMBED_ORIGINS, plus this site); where the browser
//     reports location.ancestorOrigins, it must be the real parent's origin too;
//   - a message is read only if it comes from window.parent AND from that origin; anything else is
//     ignored (logged at debug level);
//   - everything is posted to window.parent with that origin as targetOrigin, never '*'.
// The browser itself refuses to show this page inside any other origin (Content-Security-Policy:
// frame-ancestors, recording/security_headers.py).
//
// No DOM here: the page (static/demo/embed-frame.js) draws the call.

import { EMBED_PROTOCOL, EMBED_VERSION, EmbedErrorCode, EmbedMessage } from './embed.js';
import { ClientErrorCode, InvalidStateError, NetcallError } from './errors.js';
import { NetcallEvent } from './events.js';

/** Methods of Netcall the host page may not call: listeners are this bridge's business. */
const PRIVATE_METHODS = new Set(['constructor', 'on', 'once', 'off']);
/** The depth past which event payloads and results are cut (they are small, flat objects). */
const MAX_DEPTH = 8;

/** The embedding is not allowed: wrong or unknown parent origin. Its code: `embed_origin`. */
export class EmbedOriginError extends NetcallError {
  /**
   * @param {string} code EmbedErrorCode.ORIGIN
   * @param {string} [message]
   */
  constructor(code, message = code) {
    super(code, message);
    this.name = 'EmbedOriginError';
  }
}

/**
 * The parent origin the host page declared in the URL fragment (`#parent=<origin>`), or null.
 * @param {string} hash location.hash
 * @returns {string | null}
 */
export function declaredParentOrigin(hash) {
  const value = new URLSearchParams(hash.replace(/^#/u, '')).get('parent');
  return value || null;
}

/**
 * Check who embeds us; returns the origin to talk to, or throws EmbedOriginError.
 * @param {object} args
 * @param {string | null} args.declared the origin the host page says it has
 * @param {string[]} args.allowed origins allowed to embed us
 * @param {ArrayLike<string> | undefined} [args.ancestorOrigins] location.ancestorOrigins, where the browser has it
 * @returns {string}
 */
export function checkParentOrigin({ declared, allowed, ancestorOrigins }) {
  const refuse = (/** @type {string} */ message) => new EmbedOriginError(EmbedErrorCode.ORIGIN, message);
  if (!declared) throw refuse('the embedding page did not say its origin (#parent=...)');
  if (!allowed.includes(declared)) throw refuse(`${declared} is not allowed to embed this call`);
  if (ancestorOrigins && ancestorOrigins.length > 0 && ancestorOrigins[0] !== declared) {
    throw refuse(`the embedding page says it is ${declared}, but it is ${ancestorOrigins[0]}`);
  }
  return declared;
}

/**
 * A copy of `value` that survives structured cloning and says nothing it should not: Blobs and
 * binary data as they are, errors as `{name, code, message}`, MediaStreams and tracks as `{id, kind}`,
 * functions and other live objects dropped.
 * @param {unknown} value
 * @param {number} [depth]
 * @returns {unknown}
 */
export function toCloneable(value, depth = 0) {
  if (value === null || value === undefined) return value;
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return value;
  if (type === 'bigint' || type === 'symbol') return String(value);
  if (type === 'function' || depth > MAX_DEPTH) return undefined;
  const object = /** @type {any} */ (value);
  if (object instanceof Blob || object instanceof ArrayBuffer || ArrayBuffer.isView(object)) return object;
  if (object instanceof Date) return new Date(object.getTime());
  if (object instanceof Error) {
    return { name: object.name, code: /** @type {any} */ (object).code ?? 'error', message: object.message };
  }
  if (typeof MediaStream !== 'undefined' && object instanceof MediaStream) {
    return { id: object.id, kind: 'stream', tracks: object.getTracks().map((t) => ({ id: t.id, kind: t.kind })) };
  }
  if (typeof MediaStreamTrack !== 'undefined' && object instanceof MediaStreamTrack) {
    return { id: object.id, kind: object.kind, readyState: object.readyState };
  }
  if (Array.isArray(object)) return object.map((item) => toCloneable(item, depth + 1));
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [key, item] of Object.entries(object)) {
    const copy = toCloneable(item, depth + 1);
    if (copy !== undefined) out[key] = copy;
  }
  return out;
}

/** @param {unknown} err @returns {{name: string, code: string, message: string}} */
function describeError(err) {
  if (err instanceof Error) {
    return { name: err.name, code: String(/** @type {any} */ (err).code ?? 'error'), message: err.message };
  }
  return { name: 'Error', code: 'error', message: String(err) };
}

/**
 * @typedef {object} InitOptions what the host page sends in 'init'
 * @property {string} account
 * @property {string} token
 * @property {RTCIceServer[]} [iceServers]
 * @property {object} [constraints]
 * @property {string | string[]} [recordSave]
 * @property {{controls?: boolean}} [ui]
 */

/**
 * @typedef {object} CallObject the part of Netcall the bridge uses
 * @property {(name: string, fn: (payload: any) => void) => () => void} on
 * @property {() => Promise<void>} destroy
 */

/**
 * @typedef {object} BridgeOptions
 * @property {Window} parent the window that embeds us (window.parent)
 * @property {string} parentOrigin its origin, checked with checkParentOrigin
 * @property {(options: InitOptions) => any} createCall builds the Netcall (and whatever the page shows)
 * @property {Pick<Window, 'addEventListener' | 'removeEventListener'>} [listenOn] where messages arrive (window)
 */

/** Serves one host page: its commands in, results and events out. */
export class EmbedBridge {
  #parent;
  #parentOrigin;
  #createCall;
  #listenOn;
  /** @type {any} */
  #call = null;
  /** @type {(() => void)[]} */
  #unsubscribe = [];
  /** @type {(event: MessageEvent) => void} */
  #onMessage;

  /** @param {BridgeOptions} options */
  constructor({ parent, parentOrigin, createCall, listenOn = globalThis }) {
    this.#parent = parent;
    this.#parentOrigin = parentOrigin;
    this.#createCall = createCall;
    this.#listenOn = listenOn;
    this.#onMessage = (event) => {
      this.#receive(event).catch((err) => console.warn('netcall embed: a command failed', err));
    };
  }

  /** Listen, and tell the host page we are ready for 'init'. */
  start() {
    this.#listenOn.addEventListener('message', this.#onMessage);
    this.#post({ type: EmbedMessage.READY });
  }

  /** Stop listening; destroys the call object. */
  async stop() {
    this.#listenOn.removeEventListener('message', this.#onMessage);
    await this.#dropCall();
  }

  /** @returns {any} the Netcall, once 'init' made it */
  get call() {
    return this.#call;
  }

  /** @param {MessageEvent} event */
  async #receive(event) {
    if (event.source !== this.#parent || event.origin !== this.#parentOrigin) {
      console.debug('netcall embed: ignored a message from', event.origin || '(unknown origin)', 'not the parent');
      return;
    }
    const data = event.data;
    if (!data || typeof data !== 'object' || data.protocol !== EMBED_PROTOCOL) return;
    const id = data.id;
    if (typeof id !== 'number' && typeof id !== 'string') return;
    /** @type {Record<string, unknown>} */
    let result;
    try {
      result = { type: EmbedMessage.RESULT, id, ok: true, value: toCloneable(await this.#handle(data)) };
    } catch (err) {
      result = { type: EmbedMessage.RESULT, id, ok: false, error: describeError(err) };
    }
    try {
      this.#post(result);
    } catch (err) {
      // DataCloneError: the value held something that cannot cross; the host still gets an answer.
      this.#post({ type: EmbedMessage.RESULT, id, ok: false, error: describeError(err) });
    }
  }

  /** @param {any} data @returns {Promise<unknown>} */
  async #handle(data) {
    if (data.version !== EMBED_VERSION) {
      throw new NetcallError(ClientErrorCode.UNSUPPORTED, `embed protocol version ${data.version} is not ${EMBED_VERSION}`);
    }
    switch (data.type) {
      case EmbedMessage.INIT:
        return this.#init(data.options ?? {});
      case EmbedMessage.CALL:
        return this.#invoke(data.method, Array.isArray(data.args) ? data.args : []);
      default:
        throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, `unknown message type ${data.type}`);
    }
  }

  /** @param {InitOptions} options */
  #init(options) {
    if (this.#call) throw new InvalidStateError(ClientErrorCode.INVALID_STATE, 'already initialised: call destroy first');
    const call = this.#createCall(options);
    this.#call = call;
    for (const name of Object.values(NetcallEvent)) {
      this.#unsubscribe.push(
        call.on(name, (/** @type {unknown} */ payload) => {
          try {
            this.#post({ type: EmbedMessage.EVENT, name, payload: toCloneable(payload) });
          } catch (err) {
            console.warn(`netcall embed: could not forward a '${name}' event`, err);
          }
        }),
      );
    }
    return { account: call.account };
  }

  /**
   * @param {unknown} method
   * @param {unknown[]} args
   * @returns {Promise<unknown>}
   */
  async #invoke(method, args) {
    const call = this.#call;
    if (!call) throw new InvalidStateError(ClientErrorCode.INVALID_STATE, 'not initialised: send init first');
    if (method === 'getState') {
      return {
        account: call.account,
        channelName: call.channelName,
        members: call.members,
        connectionState: call.connectionState,
      };
    }
    if (method === 'destroy') {
      await this.#dropCall();
      return null;
    }
    if (typeof method !== 'string' || method.startsWith('_') || PRIVATE_METHODS.has(method)) {
      throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, `no such method: ${String(method)}`);
    }
    const fn = call[method];
    if (typeof fn !== 'function') throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, `no such method: ${method}`);
    return fn.apply(call, args);
  }

  async #dropCall() {
    const call = this.#call;
    this.#call = null;
    for (const off of this.#unsubscribe.splice(0)) off();
    if (call) await call.destroy();
  }

  /** @param {Record<string, unknown>} message */
  #post(message) {
    this.#parent.postMessage({ protocol: EMBED_PROTOCOL, version: EMBED_VERSION, ...message }, this.#parentOrigin);
  }
}
