// The embed page (/embed/): only the call, sized to its frame, driven by the host page.
// A client of the SDK like the demo room page; the host page's commands arrive through
// embed-bridge.js, which checks who sends them (see its header), and this file only draws the call.

import { EmbedBridge, checkParentOrigin, declaredParentOrigin } from '../netcall/embed-bridge.js';
import { Netcall } from '../netcall/netcall.js';
import { Tiles, bindMute, callElements, connectionText, showNotice } from './tiles.js';

/** @param {string} id @returns {any} */
const byId = (id) => document.getElementById(id);

/** @type {{embedOrigins: string[]}} */
const config = JSON.parse(byId('netcall-embed-config').textContent);
const ui = {
  ...callElements(),
  controls: /** @type {HTMLElement} */ (byId('controls')),
  fullscreen: /** @type {HTMLButtonElement} */ (byId('fullscreen')),
};

/**
 * Draw a call: one tile per participant (`<figure class="tile" data-account>`), mute buttons.
 * @param {Netcall} nc
 * @param {{controls?: boolean}} options
 */
function drawCall(nc, { controls = true } = {}) {
  const tiles = new Tiles(nc, { container: ui.tiles, enableSound: ui.enableSound, logPrefix: 'netcall embed' });
  ui.controls.hidden = !controls;
  ui.fullscreen.hidden = !document.fullscreenEnabled;

  const showLocal = () => {
    const stream = tiles.showLocal();
    ui.muteAudio.disabled = !stream?.getAudioTracks().length;
    ui.muteVideo.disabled = !stream?.getVideoTracks().length;
  };

  const renderStatus = () => {
    ui.status.textContent = connectionText(nc, 'Not in a call.');
    ui.status.dataset.state = nc.connectionState;
  };

  nc.on('joinChannel', ({ account }) => {
    tiles.tileFor(account);
    tiles.render(account);
    renderStatus();
  });
  nc.on('leaveChannel', ({ account }) => {
    tiles.remove(account);
    renderStatus();
  });
  nc.on('remoteTrack', ({ account, stream }) => tiles.play(account, stream));
  nc.on('memberUpdated', ({ account }) => tiles.render(account));
  nc.on('localTrack', () => showLocal());
  nc.on('connectionState', ({ state }) => {
    renderStatus();
    if (state === 'connected') showLocal();
    if (state === 'closed') tiles.removeOthers();
  });
  nc.on('error', (err) => {
    console.warn('netcall embed:', err.code, err.message);
    showNotice(ui.notice, err.message);
  });

  bindMute(nc, ui.muteAudio, 'audio', () => tiles.render(nc.account));
  bindMute(nc, ui.muteVideo, 'video', () => tiles.render(nc.account));
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
