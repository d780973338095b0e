// The WebSocket client of docs/protocol.md: requests with ids answered by promises, server events,
// a ping every 10 s, and automatic reconnection (with a re-join of the channel) after a network drop.

import { Emitter } from './events.js';
import { ClientErrorCode, InvalidStateError, NetcallError } from './errors.js';

/**
 * Signalling states, emitted as 'state' events.
 * @readonly
 * @enum {string}
 */
export const SignallingState = Object.freeze({
  IDLE: 'idle',
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  CLOSED: 'closed',
});

/** WebSocket close code the server uses when a newer join of the same account takes over. */
export const CLOSE_REPLACED = 4009;

/**
 * Errors that mean the server no longer counts this connection as a member (it was not heard from in
 * time): like a dropped socket, they are answered by reconnecting and joining again.
 */
const MEMBERSHIP_LOST_CODES = new Set(['expired']);

/** Join errors after which trying again cannot help: stop reconnecting. */
const FATAL_JOIN_CODES = new Set([
  'token_missing',
  'token_invalid',
  'token_expired',
  'token_wrong_channel',
  'token_wrong_account',
  'token_revoked',
  'forbidden',
  'room_full',
  'bad_message',
  'replaced',
]);

/**
 * @typedef {object} SignallingOptions
 * @property {number} [pingInterval] ms between pings (default 10 000)
 * @property {number} [requestTimeout] ms before an unanswered request rejects with `timeout` (default 15 000)
 * @property {number} [silenceTimeout] ms without any frame after which the socket counts as dead (default 35 000)
 * @property {number} [backoffInitial] first reconnect delay in ms (default 500)
 * @property {number} [backoffMax] longest reconnect delay in ms (default 10 000)
 * @property {typeof WebSocket} [WebSocket] WebSocket implementation (default: the global one)
 */

/**
 * The events of a Signalling and their payloads.
 * @typedef {object} SignallingEventMap
 * @property {{state: string}} state a SignallingState
 * @property {any} event a server event frame (member.joined, member.left, member.updated, signal,
 *   record.state, live.state), as parsed from JSON
 * @property {any} rejoined the join ack's data: the channel was joined again after a reconnect (a new session)
 * @property {NetcallError} error an error not tied to a request (including `replaced`, and a failed re-join)
 */

/**
 * One signalling connection; its events are those of SignallingEventMap.
 * @extends {Emitter<SignallingEventMap>}
 */
export class Signalling extends Emitter {
  #url;
  #opts;
  /** @type {WebSocket | null} */
  #ws = null;
  #nextId = 1;
  /** @type {Map<number, {resolve: (data: any) => void, reject: (err: Error) => void, timer: ReturnType<typeof setTimeout>}>} */
  #pending = new Map();
  /** @type {(() => object) | null} builds the join fields; set while joined, used to re-join */
  #joinFields = null;
  /** @type {string} */
  #state = SignallingState.IDLE;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #pingTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #reconnectTimer;
  #attempt = 0;
  #lastSeen = 0;
  #stopped = false;
  /** @type {string | null} the session of the current membership (from the join ack) */
  #session = null;
  /** @type {((err: Error) => void) | null} rejects the #open() promise of a socket still connecting */
  #openReject = null;

  /**
   * @param {string} url ws:// or wss:// address of the signalling endpoint
   * @param {SignallingOptions} [options]
   */
  constructor(url, options = {}) {
    super();
    this.#url = url;
    this.#opts = {
      pingInterval: 10_000,
      requestTimeout: 15_000,
      silenceTimeout: 35_000,
      backoffInitial: 500,
      backoffMax: 10_000,
      WebSocket: globalThis.WebSocket,
      ...options,
    };
  }

  /** @returns {string} the current SignallingState */
  get state() {
    return this.#state;
  }

  /**
   * Open the socket and join a channel. While joined, a dropped connection is re-opened with backoff
   * and the channel joined again with fresh fields from `fields()`.
   * @param {() => object} fields builds the `join` request fields (token, channel, media, live)
   * @returns {Promise<any>} the join ack's data
   */
  async join(fields) {
    if (this.#joinFields || this.#state === SignallingState.CONNECTING) {
      throw new InvalidStateError(ClientErrorCode.INVALID_STATE, 'this signalling connection is already joined or joining');
    }
    this.#stopped = false;
    this.#setState(SignallingState.CONNECTING);
    try {
      await this.#open();
      const data = await this.request('join', fields());
      this.#joinFields = fields;
      this.#session = data?.self?.session ?? null;
      this.#setState(SignallingState.CONNECTED);
      return data;
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * Leave the channel (best effort) and close the connection for good.
   * @returns {Promise<void>}
   */
  async leave() {
    const wasJoined = this.#joinFields !== null;
    this.#joinFields = null;
    if (wasJoined && this.#ws?.readyState === this.#opts.WebSocket.OPEN) {
      try {
        await this.request('leave', {}, { timeout: 3000 });
      } catch (err) {
        console.debug('netcall: leave was not acknowledged', err);
      }
    }
    this.close();
  }

  /** Close the connection for good: no reconnect; waiting requests reject with `closed`. */
  close() {
    this.#stopped = true;
    this.#joinFields = null;
    this.#session = null;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const ws = this.#ws;
    this.#dropSocket(new NetcallError(ClientErrorCode.CLOSED, 'the connection was closed'));
    if (ws && ws.readyState <= this.#opts.WebSocket.OPEN) ws.close(1000, 'bye');
    this.#setState(SignallingState.CLOSED);
  }

  /**
   * Send a request and wait for its answer.
   * @param {string} type request type of docs/protocol.md
   * @param {object} [fields] request fields (without `type` and `id`)
   * @param {{timeout?: number}} [options]
   * @returns {Promise<any>} the ack's `data`; rejects with NetcallError(code, message)
   */
  request(type, fields = {}, { timeout = this.#opts.requestTimeout } = {}) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== this.#opts.WebSocket.OPEN) {
      const code = this.#stopped ? ClientErrorCode.CLOSED : ClientErrorCode.DISCONNECTED;
      return Promise.reject(new NetcallError(code, `cannot send '${type}': not connected`));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new NetcallError(ClientErrorCode.TIMEOUT, `no answer to '${type}' in ${timeout} ms`));
      }, timeout);
      this.#pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...fields, type, id }));
    });
  }

  // --- socket life cycle ------------------------------------------------------------------------

  /** Open a socket; resolves once it is open, rejects with `connection_failed` if it closes first. */
  #open() {
    return new Promise((resolve, reject) => {
      let opened = false;
      /** @type {WebSocket} */
      let ws;
      try {
        ws = new this.#opts.WebSocket(this.#url);
      } catch (err) {
        reject(new NetcallError(ClientErrorCode.CONNECTION_FAILED, `bad signalling address ${this.#url}`, { cause: err }));
        return;
      }
      this.#ws = ws;
      this.#openReject = reject;
      ws.addEventListener('open', () => {
        if (ws !== this.#ws) return;
        opened = true;
        this.#openReject = null;
        this.#lastSeen = Date.now();
        this.#startPing();
        resolve(undefined);
      });
      ws.addEventListener('message', (ev) => {
        if (ws === this.#ws) this.#onMessage(ev.data);
      });
      ws.addEventListener('close', (ev) => {
        if (ws !== this.#ws) return;
        if (!opened) {
          this.#ws = null;
          this.#openReject = null;
          reject(new NetcallError(ClientErrorCode.CONNECTION_FAILED, `could not connect to ${this.#url}`));
          return;
        }
        this.#onSocketLost(ev.code);
      });
      // 'error' is always followed by 'close'; nothing to do here.
    });
  }

  /** Forget the current socket: stop pinging, reject waiting requests. */
  #dropSocket(/** @type {NetcallError} */ reason) {
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    this.#ws = null;
    this.#openReject?.(reason);
    this.#openReject = null;
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(reason);
    }
    this.#pending.clear();
  }

  /**
   * @param {number} code the WebSocket close code (0 when we gave up on the socket ourselves)
   * @param {string} [why] the reason we give when closing it ourselves
   */
  #onSocketLost(code, why = 'silent') {
    const ws = this.#ws;
    this.#session = null;
    this.#dropSocket(new NetcallError(ClientErrorCode.DISCONNECTED, 'the signalling connection was lost'));
    if (code === 0 && ws && ws.readyState <= this.#opts.WebSocket.OPEN) ws.close(4000, why);
    if (this.#stopped) return;
    if (code === CLOSE_REPLACED) {
      this.#stopped = true;
      this.#joinFields = null;
      this.#setState(SignallingState.CLOSED);
      return;
    }
    if (this.#joinFields) {
      this.#setState(SignallingState.RECONNECTING);
      this.#scheduleReconnect();
    }
    // Not joined yet: the pending join request has been rejected, and join() cleans up.
  }

  #scheduleReconnect() {
    if (this.#reconnectTimer !== undefined || this.#stopped) return;
    const base = Math.min(this.#opts.backoffMax, this.#opts.backoffInitial * 2 ** this.#attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.#attempt += 1;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#reconnect();
    }, delay);
  }

  async #reconnect() {
    const fields = this.#joinFields;
    if (this.#stopped || !fields) return;
    try {
      await this.#open();
      const data = await this.request('join', fields());
      if (this.#stopped) return;
      this.#session = data?.self?.session ?? null;
      this.#attempt = 0;
      this.#setState(SignallingState.CONNECTED);
      this.emit('rejoined', data);
    } catch (err) {
      if (this.#stopped) return;
      const code = err instanceof NetcallError ? err.code : ClientErrorCode.CONNECTION_FAILED;
      if (FATAL_JOIN_CODES.has(code)) {
        this.emit('error', /** @type {NetcallError} */ (err));
        this.close();
        return;
      }
      // Transient (network down, server restarting, timeout): drop this socket and try again.
      const ws = this.#ws;
      if (ws) {
        this.#dropSocket(new NetcallError(ClientErrorCode.DISCONNECTED, 'reconnect attempt failed'));
        ws.close(4000, 'retry');
      }
      this.#scheduleReconnect();
    }
  }

  #startPing() {
    clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => {
      if (Date.now() - this.#lastSeen > this.#opts.silenceTimeout) {
        // A half-open connection never delivers 'close' in time: give up on it ourselves.
        this.#onSocketLost(0);
        return;
      }
      this.request('ping').catch((err) => console.debug('netcall: ping failed', err));
    }, this.#opts.pingInterval);
  }

  /**
   * The server removed our membership (`expired`, or a `member.left` naming our session) while the socket
   * stayed open: recover as from a dropped connection (reconnect, re-join, peers rebuilt).
   */
  #onMembershipLost() {
    if (this.#stopped || !this.#joinFields || this.#state !== SignallingState.CONNECTED) return;
    console.info('netcall: the server no longer counts us as a member; joining again');
    this.#onSocketLost(0, 'membership lost');
  }

  // --- inbound frames ---------------------------------------------------------------------------

  /** @param {unknown} raw */
  #onMessage(raw) {
    this.#lastSeen = Date.now();
    let frame;
    try {
      frame = JSON.parse(String(raw));
    } catch {
      console.warn('netcall: ignoring a frame that is not JSON');
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') {
      console.warn('netcall: ignoring a frame without a type');
      return;
    }
    const pending = frame.id != null ? this.#pending.get(frame.id) : undefined;
    if (frame.type === 'ack' || (frame.type === 'error' && frame.id != null)) {
      if (!pending) {
        console.debug('netcall: answer to an unknown or expired request', frame);
        return;
      }
      this.#pending.delete(frame.id);
      clearTimeout(pending.timer);
      if (frame.type === 'ack') pending.resolve(frame.data ?? {});
      else pending.reject(new NetcallError(String(frame.code), String(frame.message ?? frame.code)));
      if (frame.type === 'error' && MEMBERSHIP_LOST_CODES.has(String(frame.code))) this.#onMembershipLost();
      return;
    }
    if (frame.type === 'error') {
      const err = new NetcallError(String(frame.code), String(frame.message ?? frame.code));
      if (err.code === 'replaced') {
        // The server closes the socket next (4009); make sure we do not come back.
        this.#stopped = true;
        this.#joinFields = null;
        clearTimeout(this.#reconnectTimer);
        this.#reconnectTimer = undefined;
        this.emit('error', err);
        this.close();
        return;
      }
      if (MEMBERSHIP_LOST_CODES.has(err.code)) {
        this.#onMembershipLost();
        return;
      }
      this.emit('error', err);
      return;
    }
    if (frame.type === 'member.left' && this.#session !== null && frame.session === this.#session) {
      this.#onMembershipLost();
      return;
    }
    this.emit('event', frame);
  }

  /** @param {string} state */
  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state', { state });
  }
}
