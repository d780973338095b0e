// The embed page (/embed/): only the call, sized to its frame, driven by the host page.
// A client of the SDK like the demo room page; the host page's commands arrive through
// embed-bridge.js, which checks who sends them (see its header), and this file only draws the call.

import { attachStream } from '../netcall/dom.js';
import { EmbedBridge, checkParentOrigin, declaredParentOrigin } from '../netcall/embed-bridge.js';
import { Netcall } from '../netcall/netcall.js';

/** @param {string} id @returns {any} */
const byId = (id) => document.getElementById(id);

/** @type {{embedOrigins: string[]}} */
const config = JSON.parse(byId('netcall-embed-config').textContent);
const ui = {
  status: /** @type {HTMLElement} */ (byId('status')),
  notice: /** @type {HTMLElement} */ (byId('notice')),
  tiles: /** @type {HTMLElement} */ (byId('tiles')),
  controls: /** @type {HTMLElement} */ (byId('controls')),
  muteAudio: /** @type {HTMLButtonElement} */ (byId('mute-audio')),
  muteVideo: /** @type {HTMLButtonElement} */ (byId('mute-video')),
  enableSound: /** @type {HTMLButtonElement} */ (byId('enable-sound')),
  fullscreen: /** @type {HTMLButtonElement} */ (byId('fullscreen')),
};

/** @param {string} message */
function showNotice(message) {
  ui.notice.textContent = message;
  ui.notice.hidden = false;
}

/**
 * Draw a call: one tile per participant (`<figure class="tile" data-account>`), mute buttons.
 * @param {Netcall} nc
 * @param {{controls?: boolean}} options
 */
function drawCall(nc, { controls = true } = {}) {
  /** @type {Map<string, {figure: HTMLElement, video: HTMLVideoElement, state: HTMLElement}>} */
  const tiles = new Map();
  ui.controls.hidden = !controls;
  ui.fullscreen.hidden = !document.fullscreenEnabled;

  /** @param {string} account */
  const tileFor = (account) => {
    const existing = tiles.get(account);
    if (existing) return existing;
    const local = account === nc.account;
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
    figure.append(video, caption);
    if (local) ui.tiles.prepend(figure);
    else ui.tiles.append(figure);
    const tile = { figure, video, state };
    tiles.set(account, tile);
    ui.tiles.dataset.count = String(tiles.size);
    return tile;
  };

  /** @param {string} account */
  const removeTile = (account) => {
    const tile = tiles.get(account);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.figure.remove();
    tiles.delete(account);
    ui.tiles.dataset.count = String(tiles.size);
  };

  /** @param {string} account */
  const renderTile = (account) => {
    const tile = tiles.get(account);
    if (!tile) return;
    let media;
    if (account === nc.account) {
      const stream = nc.getLocalStream();
      const mute = nc.getMute();
      media = {
        audio: Boolean(stream?.getAudioTracks().length) && !mute.audio,
        video: Boolean(stream?.getVideoTracks().length) && !mute.video,
      };
    } else {
      media = nc.getMember(account)?.media ?? { audio: false, video: false };
    }
    tile.figure.dataset.audio = media.audio ? 'on' : 'off';
    tile.figure.dataset.video = media.video ? 'on' : 'off';
    tile.state.textContent = `${media.audio ? 'mic on' : 'mic muted'} · ${media.video ? 'camera on' : 'camera off'}`;
  };

  /**
   * @param {string} account
   * @param {MediaStream} stream
   */
  const play = (account, stream) => {
    const tile = tileFor(account);
    const muted = account === nc.account;
    attachStream(tile.video, stream, { muted })
      .then((playing) => {
        if (!playing && !muted && tile.video.srcObject === stream) ui.enableSound.hidden = false;
      })
      .catch((err) => console.warn('netcall embed: cannot play a stream', err));
    renderTile(account);
  };

  const showLocal = () => {
    const stream = nc.getLocalStream();
    if (stream) play(nc.account, stream);
    else tileFor(nc.account);
    ui.muteAudio.disabled = !stream?.getAudioTracks().length;
    ui.muteVideo.disabled = !stream?.getVideoTracks().length;
    renderTile(nc.account);
  };

  const renderStatus = () => {
    const state = nc.connectionState;
    const count = nc.members.length + 1;
    ui.status.textContent =
      state === 'connected'
        ? `Connected. ${count} ${count === 1 ? 'person' : 'people'} in the call.`
        : state === 'connecting'
          ? 'Connecting…'
          : state === 'reconnecting'
            ? 'Connection lost. Reconnecting…'
            : 'Not in a call.';
    ui.status.dataset.state = state;
  };

  nc.on('joinChannel', ({ account }) => {
    tileFor(account);
    renderTile(account);
    renderStatus();
  });
  nc.on('leaveChannel', ({ account }) => {
    removeTile(account);
    renderStatus();
  });
  nc.on('remoteTrack', ({ account, stream }) => play(account, stream));
  nc.on('memberUpdated', ({ account }) => renderTile(account));
  nc.on('localTrack', () => showLocal());
  nc.on('connectionState', ({ state }) => {
    renderStatus();
    if (state === 'connected') showLocal();
    if (state === 'closed') {
      for (const account of [...tiles.keys()]) if (account !== nc.account) removeTile(account);
    }
  });
  nc.on('error', (err) => {
    console.warn('netcall embed:', err.code, err.message);
    showNotice(err.message);
  });

  for (const [button, kind] of /** @type {const} */ ([
    [ui.muteAudio, 'audio'],
    [ui.muteVideo, 'video'],
  ])) {
    button.addEventListener('click', async () => {
      const muted = button.getAttribute('aria-pressed') !== 'true';
      button.setAttribute('aria-pressed', String(muted));
      await nc.setMute({ [kind]: muted }).catch((err) => console.warn('netcall embed: mute not sent', err));
      renderTile(nc.account);
    });
  }
  ui.enableSound.addEventListener('click', () => {
    ui.enableSound.hidden = true;
    for (const [account, tile] of tiles) {
      if (account !== nc.account && tile.video.srcObject) tile.video.play().catch(() => (ui.enableSound.hidden = false));
    }
  });
  ui.fullscreen.addEventListener('click', () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else document.documentElement.requestFullscreen().catch((err) => console.warn('netcall embed: no full screen', err));
  });
  document.addEventListener('fullscreenchange', () => {
    ui.fullscreen.setAttribute('aria-pressed', String(Boolean(document.fullscreenElement)));
  });
  window.addEventListener('pagehide', () => void nc.leaveChannel());
  showLocal();
  renderStatus();
}

// --- who embeds us --------------------------------------------------------------------------------

function main() {
  if (window.parent === window) {
    ui.status.textContent = 'This page shows a call inside another site. Embed it with /embed/embed.js.';
    return;
  }
  let parentOrigin;
  try {
    parentOrigin = checkParentOrigin({
      declared: declaredParentOrigin(window.location.hash),
      allowed: [...config.embedOrigins, window.location.origin],
      ancestorOrigins: window.location.ancestorOrigins,
    });
  } catch (err) {
    console.warn('netcall embed: not starting:', /** @type {Error} */ (err).message);
    ui.status.textContent = 'This call cannot be shown here.';
    return;
  }
  const bridge = new EmbedBridge({
    parent: window.parent,
    parentOrigin,
    createCall: ({ account, token, iceServers, constraints, recordSave, ui: uiOptions }) => {
      // Signalling goes to this server only: the host page cannot point the frame elsewhere.
      const nc = new Netcall({ account, token, iceServers, constraints, recordSave: recordSave ?? 'none' });
      drawCall(nc, uiOptions ?? {});
      ui.status.textContent = 'Ready.';
      Object.assign(window, { netcall: nc }); // for the console (and tests), as on the room page
      return nc;
    },
  });
  bridge.start();
}

main();
