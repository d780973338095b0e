// The demo call page: one tile per participant, mute buttons, Leave, and a live status line.
// A client of the SDK like any other page: everything goes through the public Netcall API.

import { attachStream } from '../netcall/dom.js';
import { Netcall } from '../netcall/netcall.js';

/**
 * @typedef {object} Tile
 * @property {HTMLElement} figure
 * @property {HTMLVideoElement} video
 * @property {HTMLElement} state
 */

/** @param {string} id @returns {any} */
const byId = (id) => document.getElementById(id);

const config = JSON.parse(byId('netcall-config').textContent);
const audioOnly = config.type === 'audio';
const ui = {
  status: /** @type {HTMLElement} */ (byId('status')),
  notice: /** @type {HTMLElement} */ (byId('notice')),
  tiles: /** @type {HTMLElement} */ (byId('tiles')),
  muteAudio: /** @type {HTMLButtonElement} */ (byId('mute-audio')),
  muteVideo: /** @type {HTMLButtonElement} */ (byId('mute-video')),
  enableSound: /** @type {HTMLButtonElement} */ (byId('enable-sound')),
  leave: /** @type {HTMLButtonElement} */ (byId('leave')),
  leftPanel: /** @type {HTMLElement} */ (byId('left-panel')),
  rejoin: /** @type {HTMLAnchorElement} */ (byId('rejoin')),
};

const nc = new Netcall({ account: config.account, token: config.token });
/** @type {Map<string, Tile>} */
const tiles = new Map();
/** @type {Map<string, string>} peer connection state per remote account */
const peerStates = new Map();
let left = false;

// --- tiles ----------------------------------------------------------------------------------------

/**
 * The tile of an account, created on first use.
 * @param {string} account
 * @returns {Tile}
 */
function tileFor(account) {
  const existing = tiles.get(account);
  if (existing) return existing;
  const local = account === config.account;
  const figure = document.createElement('figure');
  figure.className = 'tile';
  figure.dataset.account = account;
  if (local) figure.dataset.local = 'true';
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.setAttribute('aria-label', local ? 'Your camera' : `Video of ${account}`);
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.setAttribute('aria-hidden', 'true');
  avatar.textContent = Array.from(account)[0]?.toUpperCase() ?? '?';
  const caption = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = local ? `${account} (you)` : account;
  const state = document.createElement('span');
  state.className = 'state';
  caption.append(name, ' ', state);
  figure.append(video, avatar, caption);
  if (local) ui.tiles.prepend(figure);
  else ui.tiles.append(figure);
  const tile = { figure, video, state };
  tiles.set(account, tile);
  return tile;
}

/** @param {string} account */
function removeTile(account) {
  const tile = tiles.get(account);
  if (!tile) return;
  tile.video.srcObject = null;
  tile.figure.remove();
  tiles.delete(account);
  peerStates.delete(account);
}

/**
 * Show a participant's media state (and, for others, the connection to them) in its caption.
 * @param {string} account
 */
function renderTile(account) {
  const tile = tiles.get(account);
  if (!tile) return;
  const local = account === config.account;
  const media = local ? localMedia() : nc.getMember(account)?.media ?? { audio: false, video: false };
  tile.figure.dataset.audio = media.audio ? 'on' : 'off';
  tile.figure.dataset.video = media.video ? 'on' : 'off';
  const parts = [media.audio ? 'mic on' : 'mic muted'];
  if (!audioOnly || media.video) parts.push(media.video ? 'camera on' : 'camera off');
  const peer = peerStates.get(account);
  if (!local && peer && peer !== 'connected') {
    parts.push(peer === 'failed' ? 'connection failed' : 'connecting…');
  }
  tile.figure.dataset.peer = local ? 'local' : peer ?? 'new';
  tile.state.textContent = parts.join(' · ');
}

/** @returns {{audio: boolean, video: boolean}} what we send */
function localMedia() {
  const stream = nc.getLocalStream();
  const mute = nc.getMute();
  return {
    audio: Boolean(stream?.getAudioTracks().length) && !mute.audio,
    video: Boolean(stream?.getVideoTracks().length) && !mute.video,
  };
}

/**
 * Play a stream in a tile; remote tiles are not muted, so their sound plays.
 * @param {Tile} tile
 * @param {MediaStream} stream
 * @param {boolean} muted
 */
function play(tile, stream, muted) {
  attachStream(tile.video, stream, { muted })
    .then((playing) => {
      if (!playing && !muted && tile.video.srcObject === stream && tile.video.paused) ui.enableSound.hidden = false;
    })
    .catch((err) => console.warn('netcall demo: cannot play a stream', err));
}

function showLocal() {
  const stream = nc.getLocalStream();
  const tile = tileFor(config.account);
  if (stream) play(tile, stream, true);
  ui.muteAudio.disabled = left || !stream?.getAudioTracks().length;
  ui.muteVideo.disabled = left || !stream?.getVideoTracks().length;
  renderTile(config.account);
}

// --- status ---------------------------------------------------------------------------------------

/** @param {string} [prefix] an announcement to put before the summary */
function renderStatus(prefix = '') {
  let text;
  switch (nc.connectionState) {
    case 'connecting':
      text = 'Connecting…';
      break;
    case 'connected': {
      const count = nc.members.length + 1;
      text = `Connected. ${count} ${count === 1 ? 'person' : 'people'} in the call.`;
      break;
    }
    case 'reconnecting':
      text = 'Connection lost. Reconnecting…';
      break;
    default:
      text = left ? 'You left the call.' : 'Disconnected.';
  }
  ui.status.textContent = prefix ? `${prefix} ${text}` : text;
  ui.status.dataset.state = nc.connectionState;
}

/** @param {string} message */
function showNotice(message) {
  ui.notice.textContent = message;
  ui.notice.hidden = false;
}

/** @param {{code?: string, message?: string}} err */
function describeError(err) {
  switch (err.code) {
    case 'replaced':
      return 'You joined this call from another tab or window, so this one was disconnected.';
    case 'token_expired':
      return 'Your access to this call has expired. Reload the page to join again.';
    case 'token_invalid':
    case 'token_wrong_channel':
    case 'token_missing':
      return 'This call link is not valid.';
    case 'room_full':
      return 'This call is full.';
    case 'device_denied':
    case 'device_unavailable':
      return `${err.message}. Others can still see and hear what you share.`;
    default:
      return err.message ?? String(err);
  }
}

// --- SDK events -----------------------------------------------------------------------------------

nc.on('joinChannel', ({ account }) => {
  tileFor(account);
  renderTile(account);
  renderStatus(`${account} joined.`);
});

nc.on('leaveChannel', ({ account }) => {
  removeTile(account);
  renderStatus(`${account} left.`);
});

nc.on('remoteTrack', ({ account, stream }) => {
  const tile = tileFor(account);
  play(tile, stream, false);
  renderTile(account);
});

nc.on('memberUpdated', ({ account }) => renderTile(account));

nc.on('peerState', ({ account, state }) => {
  if (state === 'closed') return;
  peerStates.set(account, state);
  renderTile(account);
});

nc.on('localTrack', () => showLocal());

nc.on('connectionState', ({ state }) => {
  renderStatus();
  if (state === 'connected' && !left) {
    ui.leave.disabled = false;
    showLocal();
  } else if (state === 'closed' && !left) {
    for (const account of [...tiles.keys()]) if (account !== config.account) removeTile(account);
    ui.muteAudio.disabled = true;
    ui.muteVideo.disabled = true;
    ui.leave.disabled = true;
  }
});

nc.on('error', (err) => {
  console.warn('netcall demo:', err.code, err.message);
  showNotice(describeError(err));
});

// --- controls -------------------------------------------------------------------------------------

/**
 * @param {HTMLButtonElement} button
 * @param {'audio'|'video'} kind
 */
function bindMute(button, kind) {
  button.addEventListener('click', async () => {
    const muted = button.getAttribute('aria-pressed') !== 'true';
    button.setAttribute('aria-pressed', String(muted));
    try {
      await nc.setMute({ [kind]: muted });
    } catch (err) {
      console.warn('netcall demo: could not tell the others about the mute', err);
    }
    renderTile(config.account);
  });
}

bindMute(ui.muteAudio, 'audio');
bindMute(ui.muteVideo, 'video');
if (audioOnly) ui.muteVideo.hidden = true;

ui.enableSound.addEventListener('click', () => {
  ui.enableSound.hidden = true;
  for (const [account, tile] of tiles) {
    if (account !== config.account && tile.video.srcObject) {
      tile.video.play().catch((err) => {
        console.warn('netcall demo: still cannot play', err);
        ui.enableSound.hidden = false;
      });
    }
  }
});

ui.leave.addEventListener('click', async () => {
  left = true;
  ui.leave.disabled = true;
  ui.muteAudio.disabled = true;
  ui.muteVideo.disabled = true;
  try {
    await nc.leaveChannel();
  } finally {
    await nc.stopDevice(Netcall.DEVICE_TYPE_VIDEO);
    await nc.stopDevice(Netcall.DEVICE_TYPE_AUDIO_IN);
    for (const account of [...tiles.keys()]) removeTile(account);
    ui.rejoin.href = window.location.href;
    ui.leftPanel.hidden = false;
    renderStatus();
  }
});

window.addEventListener('pagehide', () => {
  if (!left) void nc.leaveChannel();
});

// --- join -----------------------------------------------------------------------------------------

tileFor(config.account);
renderTile(config.account);
renderStatus();

const ready = nc.joinChannel({
  channelName: config.channel,
  type: audioOnly ? Netcall.NETCALL_TYPE_AUDIO : Netcall.NETCALL_TYPE_VIDEO,
});
Object.assign(window, { netcall: nc, netcallReady: ready });
ready
  .then(() => {
    showLocal();
    renderStatus();
  })
  .catch((err) => {
    console.warn('netcall demo: could not join', err);
    showNotice(`Could not join the call: ${describeError(err)}`);
    renderStatus();
  });
