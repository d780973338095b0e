// The media mesh: one RTCPeerConnection per remote member, negotiated with "perfect negotiation"
// (docs/protocol.md, "Peer connection negotiation"). The member that joins offers first; of two
// accounts the one that sorts lower is polite. Remote tracks are grouped into one MediaStream per account.
//
// Our audio and video are sent as one stream (one `a=msid` stream id on both m-lines, kept for the
// connection's life, whatever track is sent): a receiver plays the tracks of one stream in lip sync
// (Chromium's RtpStreamsSynchronizer pairs them by that id, using the RTCP sender reports), and tracks of
// no stream each on their own delay: a member's video then ran 50-700 ms off its audio (issue 13).
// Every transceiver also negotiates the abs-capture-time header extension where the browser offers it
// (Chromium: stopped by default): each received frame then carries its capture time on the sender's
// clock (`getSynchronizationSources()`), which a recording of the member aligns its audio and video by
// (lip-sync.js).

import { ClientErrorCode, NetcallError } from './errors.js';

/** The kinds of media a peer connection carries, in m-line order. */
const KINDS = /** @type {const} */ (['audio', 'video']);

/** How long a member that did not join waits for the joiner's first offer before offering itself. */
const OFFER_WAIT_MS = 8000;
/** How long a connection may stay 'disconnected' before we try to repair it. */
const DISCONNECTED_GRACE_MS = 5000;
/** How long a new connection may take to connect before we try to repair it. */
const CONNECT_TIMEOUT_MS = 20_000;
/** ICE restarts tried before the impolite side rebuilds the connection from scratch. */
const MAX_ICE_RESTARTS = 2;
/** The RTP header extension that carries each frame's capture time (sender's NTP clock). */
const ABS_CAPTURE_TIME = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time';

/**
 * Ask to negotiate abs-capture-time on every transceiver of `pc`, where the browser has it but stops it.
 * @param {RTCPeerConnection} pc
 */
function negotiateCaptureTimes(pc) {
  for (const transceiver of pc.getTransceivers()) {
    const t = /** @type {any} */ (transceiver);
    if (typeof t.setHeaderExtensionsToNegotiate !== 'function' || transceiver.currentDirection === 'stopped') continue;
    /** @type {{uri: string, direction: RTCRtpTransceiverDirection}[]} */
    const extensions = t.getHeaderExtensionsToNegotiate();
    const capture = extensions.find((e) => e.uri === ABS_CAPTURE_TIME);
    if (!capture || capture.direction !== 'stopped') continue;
    capture.direction = 'sendrecv';
    try {
      t.setHeaderExtensionsToNegotiate(extensions);
    } catch (err) {
      console.debug('netcall: abs-capture-time not negotiated', err);
    }
  }
}

/**
 * @typedef {object} PeerCallbacks
 * @property {(account: string, session: string, data: object) => Promise<unknown>} sendSignal relay `data` to
 *   `account`, only while `session` is still its current session
 * @property {(kind: 'audio'|'video') => MediaStreamTrack | null} localTrack the local track of that kind
 * @property {(account: string, track: MediaStreamTrack, stream: MediaStream) => void} onTrack
 * @property {(account: string, state: RTCPeerConnectionState) => void} onState
 * @property {(err: NetcallError) => void} onError
 */

/** One RTCPeerConnection to one session of a remote member. */
class Peer {
  /** Every remote track of this member, one per kind. */
  stream = new MediaStream();
  /** The stream our tracks are sent in (its id is the msid of both m-lines); it holds no track itself. */
  #sending = new MediaStream();
  #pc;
  #cb;
  #makingOffer = false;
  #ignoreOffer = false;
  #settingAnswer = false;
  #waitingForOffer;
  #reset;
  #closed = false;
  #restarts = 0;
  /** @type {Promise<void>} signals are handled one at a time, in order */
  #queue = Promise.resolve();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #offerTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #repairTimer;
  /** @type {() => void} */
  #requestRebuild;

  /**
   * @param {object} init
   * @param {string} init.account remote account
   * @param {string} init.session remote session this connection belongs to
   * @param {boolean} init.polite whether we yield in an offer collision
   * @param {boolean} init.initiator whether we send the first offer
   * @param {boolean} [init.reset] mark the first offer `reset: true` (the remote must rebuild its connection)
   * @param {RTCIceServer[]} init.iceServers
   * @param {PeerCallbacks} init.callbacks
   * @param {() => void} init.requestRebuild ask the owner to replace this peer by a fresh one
   */
  constructor({ account, session, polite, initiator, reset = false, iceServers, callbacks, requestRebuild }) {
    this.account = account;
    this.session = session;
    this.polite = polite;
    this.#cb = callbacks;
    this.#reset = reset;
    this.#requestRebuild = requestRebuild;
    this.#waitingForOffer = !initiator;
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    this.#pc = pc;
    pc.addEventListener('negotiationneeded', () => void this.#negotiate());
    pc.addEventListener('icecandidate', ({ candidate }) => {
      this.#send({ candidate: candidate ? candidate.toJSON() : null });
    });
    pc.addEventListener('track', ({ track }) => this.#addRemoteTrack(track));
    pc.addEventListener('connectionstatechange', () => this.#onConnectionState());
    if (initiator) {
      this.#attachLocalMedia();
    } else {
      // The joiner offers first; should its offer never come, offer ourselves.
      this.#offerTimer = setTimeout(() => this.#stopWaiting(), OFFER_WAIT_MS);
    }
    this.#repairTimer = setTimeout(() => this.#repairIfStuck(), CONNECT_TIMEOUT_MS);
  }

  /** @returns {RTCPeerConnectionState} */
  get state() {
    return this.#pc.connectionState;
  }

  /** @returns {RTCPeerConnection} the underlying connection (for stats, or a recorder) */
  get connection() {
    return this.#pc;
  }

  /**
   * Handle a signal from the remote session, in order with the previous ones.
   * @param {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit | null}} data
   */
  handleSignal(data) {
    this.#queue = this.#queue
      .then(() => this.#handleSignal(data))
      .catch((err) => {
        if (this.#closed) return;
        this.#cb.onError(
          new NetcallError(ClientErrorCode.NEGOTIATION_FAILED, `negotiation with ${this.account} failed: ${err}`, {
            cause: err,
          }),
        );
      });
  }

  /**
   * Send `track` (or nothing) as our media of `kind`, renegotiating if that kind was not sent before.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  async setLocalTrack(kind, track) {
    if (this.#closed || this.#waitingForOffer) return; // attached when we answer
    const transceivers = this.#pc
      .getTransceivers()
      .filter((t) => t.direction !== 'stopped' && t.receiver.track.kind === kind);
    const current = transceivers.find((t) => t.sender.track) ?? transceivers[0];
    if (!current) {
      if (track) this.#pc.addTrack(track, this.#sending);
      negotiateCaptureTimes(this.#pc);
      return;
    }
    if (current.sender.track !== track) await current.sender.replaceTrack(track);
    if (track && !current.direction.includes('send')) {
      // A transceiver the remote's offer created, that we never sent on: it has no stream yet.
      current.sender.setStreams?.(this.#sending);
      current.direction = current.direction === 'inactive' ? 'sendonly' : 'sendrecv';
    }
  }

  /** Close the connection and end its remote tracks. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#offerTimer);
    clearTimeout(this.#repairTimer);
    this.#pc.close();
    for (const track of this.stream.getTracks()) {
      track.stop();
      this.stream.removeTrack(track);
    }
  }

  // --- negotiation ------------------------------------------------------------------------------

  /** Add our local tracks; for kinds we do not send, still ask to receive them. */
  #attachLocalMedia() {
    for (const kind of KINDS) {
      const track = this.#cb.localTrack(kind);
      if (track) this.#pc.addTrack(track, this.#sending);
      else this.#pc.addTransceiver(kind, { direction: 'recvonly', streams: [this.#sending] });
    }
    negotiateCaptureTimes(this.#pc);
  }

  #stopWaiting() {
    if (this.#closed || !this.#waitingForOffer) return;
    this.#waitingForOffer = false;
    clearTimeout(this.#offerTimer);
    this.#attachLocalMedia(); // fires 'negotiationneeded': we offer
  }

  async #negotiate() {
    if (this.#closed) return;
    try {
      this.#makingOffer = true;
      await this.#pc.setLocalDescription();
      this.#sendDescription();
    } catch (err) {
      if (!this.#closed) console.warn(`netcall: offer to ${this.account} failed`, err);
    } finally {
      this.#makingOffer = false;
    }
  }

  /** @param {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit | null}} data */
  async #handleSignal({ description, candidate }) {
    if (this.#closed) return;
    const pc = this.#pc;
    if (description) {
      const readyForOffer = !this.#makingOffer && (pc.signalingState === 'stable' || this.#settingAnswer);
      const collision = description.type === 'offer' && !readyForOffer;
      this.#ignoreOffer = !this.polite && collision;
      if (this.#ignoreOffer) return;
      this.#settingAnswer = description.type === 'answer';
      try {
        await pc.setRemoteDescription(description);
      } finally {
        this.#settingAnswer = false;
      }
      if (description.type === 'offer') {
        negotiateCaptureTimes(pc); // on the transceivers the offer created, before we answer
        if (this.#waitingForOffer) {
          this.#waitingForOffer = false;
          clearTimeout(this.#offerTimer);
          // addTrack reuses the transceivers the offer created, so our media rides the same m-lines.
          for (const kind of KINDS) {
            const track = this.#cb.localTrack(kind);
            if (track) pc.addTrack(track, this.#sending);
          }
        }
        await pc.setLocalDescription();
        this.#sendDescription();
      }
    } else if (candidate !== undefined) {
      try {
        await (candidate ? pc.addIceCandidate(candidate) : pc.addIceCandidate());
      } catch (err) {
        // Candidates of an ignored offer, or of a connection the remote has since replaced.
        if (!this.#ignoreOffer) console.debug(`netcall: candidate from ${this.account} rejected`, err);
      }
    }
  }

  #sendDescription() {
    const description = this.#pc.localDescription;
    if (!description) return;
    /** @type {{description: RTCSessionDescriptionInit, reset?: boolean}} */
    const data = { description: description.toJSON() };
    if (this.#reset && description.type === 'offer') {
      data.reset = true;
      this.#reset = false;
    }
    this.#send(data);
  }

  /** @param {object} data */
  #send(data) {
    if (this.#closed) return;
    this.#cb.sendSignal(this.account, this.session, data).catch((err) => {
      if (!this.#closed) console.debug(`netcall: signal to ${this.account} not delivered`, err);
    });
  }

  // --- media and state --------------------------------------------------------------------------

  /** @param {MediaStreamTrack} track */
  #addRemoteTrack(track) {
    if (this.#closed) return;
    if (!this.stream.getTracks().includes(track)) {
      // One track per kind: the newest transceiver to receive that kind wins.
      for (const old of this.stream.getTracks()) {
        if (old.kind === track.kind) this.stream.removeTrack(old);
      }
      this.stream.addTrack(track);
      track.addEventListener('ended', () => this.stream.removeTrack(track), { once: true });
    }
    this.#cb.onTrack(this.account, track, this.stream);
  }

  #onConnectionState() {
    if (this.#closed) return;
    const state = this.#pc.connectionState;
    this.#cb.onState(this.account, state);
    clearTimeout(this.#repairTimer);
    if (state === 'connected') {
      this.#restarts = 0;
    } else if (state === 'failed') {
      this.#repair();
    } else if (state === 'disconnected' || state === 'connecting') {
      this.#repairTimer = setTimeout(
        () => this.#repairIfStuck(),
        state === 'disconnected' ? DISCONNECTED_GRACE_MS : CONNECT_TIMEOUT_MS,
      );
    }
  }

  #repairIfStuck() {
    if (this.#closed || this.#pc.connectionState === 'connected') return;
    this.#repair();
    this.#repairTimer = setTimeout(() => this.#repairIfStuck(), CONNECT_TIMEOUT_MS);
  }

  /** Restart ICE a few times; then the impolite side rebuilds the connection (the polite side follows). */
  #repair() {
    if (this.#closed || this.#waitingForOffer) return;
    if (this.#restarts < MAX_ICE_RESTARTS) {
      this.#restarts += 1;
      console.debug(`netcall: restarting ICE with ${this.account} (attempt ${this.#restarts})`);
      this.#pc.restartIce();
    } else if (!this.polite) {
      console.debug(`netcall: rebuilding the connection to ${this.account}`);
      this.#requestRebuild();
    }
  }
}

/** The set of peer connections of one joined channel. */
export class Peers {
  /** @type {Map<string, Peer>} */
  #peers = new Map();
  #self;
  #iceServers;
  #cb;

  /**
   * @param {object} init
   * @param {string} init.selfAccount our own account (decides who is polite)
   * @param {RTCIceServer[]} init.iceServers
   * @param {PeerCallbacks} init.callbacks
   */
  constructor({ selfAccount, iceServers, callbacks }) {
    this.#self = selfAccount;
    this.#iceServers = iceServers;
    this.#cb = callbacks;
  }

  /**
   * Open a connection to a remote member's session, replacing any older one to that account.
   * @param {string} account
   * @param {string} session
   * @param {{initiator: boolean, reset?: boolean}} options `initiator`: we joined after them, so we offer first
   * @returns {Peer}
   */
  open(account, session, { initiator, reset = false }) {
    this.close(account);
    const peer = new Peer({
      account,
      session,
      polite: this.#self < account,
      initiator,
      reset,
      iceServers: this.#iceServers,
      callbacks: this.#cb,
      requestRebuild: () => {
        if (this.#peers.get(account) === peer) this.open(account, session, { initiator: true, reset: true });
      },
    });
    this.#peers.set(account, peer);
    return peer;
  }

  /**
   * Route a relayed signal to its peer connection. Signals from a session other than the current one
   * of that account are dropped; `reset: true` (the remote rebuilt its connection) rebuilds ours too.
   * @param {string} account sender account (`from`)
   * @param {string} session sender session (`fromSession`)
   * @param {any} data the signal's `data`
   * @returns {boolean} whether the signal was used
   */
  handleSignal(account, session, data) {
    let peer = this.#peers.get(account);
    if (!peer || peer.session !== session) {
      console.debug(`netcall: dropping a signal from stale session ${session} of ${account}`);
      return false;
    }
    if (!data || typeof data !== 'object') return false;
    if (data.reset === true && data.description?.type === 'offer') {
      peer = this.open(account, session, { initiator: false });
    }
    peer.handleSignal(data);
    return true;
  }

  /**
   * @param {string} account
   * @returns {Peer | undefined}
   */
  get(account) {
    return this.#peers.get(account);
  }

  /** @returns {Peer[]} */
  all() {
    return [...this.#peers.values()];
  }

  /**
   * Send a new local track (or none) of `kind` to every peer.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack | null} track
   */
  async setLocalTrack(kind, track) {
    await Promise.all(
      this.all().map((peer) =>
        peer.setLocalTrack(kind, track).catch((err) => {
          console.warn(`netcall: could not switch the ${kind} track sent to ${peer.account}`, err);
        }),
      ),
    );
  }

  /**
   * Close the connection to one account.
   * @param {string} account
   */
  close(account) {
    const peer = this.#peers.get(account);
    if (!peer) return;
    this.#peers.delete(account);
    peer.close();
    this.#cb.onState(account, 'closed');
  }

  /** Close every connection. */
  closeAll() {
    for (const account of [...this.#peers.keys()]) this.close(account);
  }
}
