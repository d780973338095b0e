// What the demo room page (room.js) and the embed page (embed-frame.js) draw alike: one tile per
// participant (`<figure class="tile" data-account>` with its video and a caption saying its media
// state), the "Turn on sound" button for when autoplay refuses a remote stream's sound, the mute
// buttons, the status line and the notice. A client of the public SDK API only.

import { attachStream } from '../netcall/dom.js';

/** @typedef {import('../netcall/netcall.js').Netcall} Netcall */

/**
 * @typedef {object} Tile
 * @property {string} account
 * @property {HTMLElement} figure
 * @property {HTMLVideoElement} video
 * @property {HTMLElement} state the caption's media-state text
 */

/**
 * @typedef {object} TilesOptions
 * @property {HTMLElement} container where the tiles go (your own first)
 * @property {HTMLButtonElement} enableSound shown when the browser refused to play a remote stream's sound
 * @property {boolean} [avatar] an initial shown in place of a camera that is off (default false)
 * @property {boolean} [audioOnly] an audio call: a camera that is off goes unmentioned (default false)
 * @property {(tile: Tile) => void} [decorate] called once for each new tile (e.g. to add buttons)
 * @property {string} [logPrefix] for console messages (default 'netcall demo')
 */

/**
 * The elements both call pages have, found by their ids: the status line (`status`), the notice
 * (`notice`), the tiles' container (`tiles`), the mute buttons (`mute-audio`, `mute-video`) and the
 * "Turn on sound" button (`enable-sound`).
 */
export function callElements() {
  /** @param {string} id @returns {any} */
  const byId = (id) => document.getElementById(id);
  return {
    status: /** @type {HTMLElement} */ (byId('status')),
    notice: /** @type {HTMLElement} */ (byId('notice')),
    tiles: /** @type {HTMLElement} */ (byId('tiles')),
    muteAudio: /** @type {HTMLButtonElement} */ (byId('mute-audio')),
    muteVideo: /** @type {HTMLButtonElement} */ (byId('mute-video')),
    enableSound: /** @type {HTMLButtonElement} */ (byId('enable-sound')),
  };
}

/**
 * Show `message` in the page's notice (`role="alert"`).
 * @param {HTMLElement} notice
 * @param {string} message
 */
export function showNotice(notice, message) {
  notice.textContent = message;
  notice.hidden = false;
}

/**
 * @param {Netcall} nc
 * @returns {{audio: boolean, video: boolean}} what we send: a running device that is not muted
 */
export function localMedia(nc) {
  const stream = nc.getLocalStream();
  const mute = nc.getMute();
  return {
    audio: Boolean(stream?.getAudioTracks().length) && !mute.audio,
    video: Boolean(stream?.getVideoTracks().length) && !mute.video,
  };
}

/** The participants of one call, as tiles. */
export class Tiles {
  #nc;
  #options;
  /** @type {Map<string, Tile>} */
  #tiles = new Map();
  /** @type {Map<string, string>} peer connection state per remote account */
  #peerStates = new Map();

  /**
   * @param {Netcall} nc
   * @param {TilesOptions} options
   */
  constructor(nc, options) {
    this.#nc = nc;
    this.#options = options;
    options.enableSound.addEventListener('click', () => this.#enableSound());
  }

  /** @returns {Tile[]} every tile, yours included */
  get all() {
    return [...this.#tiles.values()];
  }

  /**
   * The tile of an account, created on first use.
   * @param {string} account
   * @returns {Tile}
   */
  tileFor(account) {
    const existing = this.#tiles.get(account);
    if (existing) return existing;
    const local = account === this.#nc.account;
    const figure = document.createElement('figure');
    figure.className = 'tile';
    figure.dataset.account = account;
    if (local) figure.dataset.local = 'true';
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.setAttribute('aria-label', local ? 'Your camera' : `Video of ${account}`);
    const caption = document.createElement('figcaption');
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = local ? `${account} (you)` : account;
    const state = document.createElement('span');
    state.className = 'state';
    caption.append(name, ' ', state);
    figure.append(video);
    if (this.#options.avatar) {
      const avatar = document.createElement('div');
      avatar.className = 'avatar';
      avatar.setAttribute('aria-hidden', 'true');
      avatar.textContent = Array.from(account)[0]?.toUpperCase() ?? '?';
      figure.append(avatar);
    }
    figure.append(caption);
    const container = this.#options.container;
    if (local) container.prepend(figure);
    else container.append(figure);
    const tile = { account, figure, video, state };
    this.#tiles.set(account, tile);
    container.dataset.count = String(this.#tiles.size);
    this.#options.decorate?.(tile);
    return tile;
  }

  /** @param {string} account */
  remove(account) {
    const tile = this.#tiles.get(account);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.figure.remove();
    this.#tiles.delete(account);
    this.#peerStates.delete(account);
    this.#options.container.dataset.count = String(this.#tiles.size);
  }

  /** Remove the tiles of everyone else (the call closed). */
  removeOthers() {
    for (const account of [...this.#tiles.keys()]) if (account !== this.#nc.account) this.remove(account);
  }

  /** Remove every tile (we left). */
  removeAll() {
    for (const account of [...this.#tiles.keys()]) this.remove(account);
  }

  /**
   * Note the state of the peer connection to a member (shown while it is not connected).
   * @param {string} account
   * @param {string} state an RTCPeerConnectionState
   */
  setPeerState(account, state) {
    this.#peerStates.set(account, state);
    this.render(account);
  }

  /**
   * Show a participant's media state (and, for others, a connection not up yet) in its caption.
   * @param {string} account
   */
  render(account) {
    const tile = this.#tiles.get(account);
    if (!tile) return;
    const local = account === this.#nc.account;
    const media = local ? localMedia(this.#nc) : (this.#nc.getMember(account)?.media ?? { audio: false, video: false });
    tile.figure.dataset.audio = media.audio ? 'on' : 'off';
    tile.figure.dataset.video = media.video ? 'on' : 'off';
    const parts = [media.audio ? 'mic on' : 'mic muted'];
    if (!this.#options.audioOnly || media.video) parts.push(media.video ? 'camera on' : 'camera off');
    const peer = this.#peerStates.get(account);
    if (!local && peer && peer !== 'connected') {
      parts.push(peer === 'failed' ? 'connection failed' : 'connecting…');
    }
    tile.figure.dataset.peer = local ? 'local' : (peer ?? 'new');
    tile.state.textContent = parts.join(' · ');
  }

  /**
   * Play a participant's stream in its tile: others with their sound, yours muted.
   * @param {string} account
   * @param {MediaStream} stream
   */
  play(account, stream) {
    const tile = this.tileFor(account);
    const muted = account === this.#nc.account;
    attachStream(tile.video, stream, { muted })
      .then((playing) => {
        if (!playing && !muted && tile.video.srcObject === stream && tile.video.paused) {
          this.#options.enableSound.hidden = false;
        }
      })
      .catch((err) => console.warn(`${this.#logPrefix}: cannot play a stream`, err));
    this.render(account);
  }

  /**
   * Your own tile, playing your camera if it runs.
   * @returns {MediaStream | null} your local stream
   */
  showLocal() {
    const stream = this.#nc.getLocalStream();
    if (stream) this.play(this.#nc.account, stream);
    else this.tileFor(this.#nc.account);
    this.render(this.#nc.account);
    return stream;
  }

  /** The user clicked "Turn on sound": play the remote tiles again, inside the gesture. */
  #enableSound() {
    const button = this.#options.enableSound;
    button.hidden = true;
    for (const tile of this.#tiles.values()) {
      if (tile.account === this.#nc.account || !tile.video.srcObject) continue;
      tile.video.play().catch((err) => {
        console.warn(`${this.#logPrefix}: still cannot play`, err);
        button.hidden = false;
      });
    }
  }

  get #logPrefix() {
    return this.#options.logPrefix ?? 'netcall demo';
  }
}

/**
 * A mute toggle (`aria-pressed`) for the microphone or the camera; the channel is told.
 * @param {Netcall} nc
 * @param {HTMLButtonElement} button
 * @param {'audio'|'video'} kind
 * @param {() => void} onChange after the change (e.g. render your tile)
 */
export function bindMute(nc, button, kind, onChange) {
  button.addEventListener('click', async () => {
    const muted = button.getAttribute('aria-pressed') !== 'true';
    button.setAttribute('aria-pressed', String(muted));
    try {
      await nc.setMute({ [kind]: muted });
    } catch (err) {
      console.warn('netcall demo: could not tell the others about the mute', err);
    }
    onChange();
  });
}

/**
 * The status line's words for the call's connection state.
 * @param {Netcall} nc
 * @param {string} closed what to say when not connected at all
 * @returns {string}
 */
export function connectionText(nc, closed) {
  switch (nc.connectionState) {
    case 'connecting':
      return 'Connecting…';
    case 'connected': {
      const count = nc.members.length + 1;
      return `Connected. ${count} ${count === 1 ? 'person' : 'people'} in the call.`;
    }
    case 'reconnecting':
      return 'Connection lost. Reconnecting…';
    default:
      return closed;
  }
}
