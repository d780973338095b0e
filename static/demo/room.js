// The demo call page: one tile per participant, mute buttons, Leave, and a live status line.
// A client of the SDK like any other page: everything goes through the public Netcall API.

import { Netcall } from '../netcall/netcall.js';
import { Tiles, bindMute, callElements, connectionText, showNotice } from './tiles.js';

/** @param {string} id @returns {any} */
const byId = (id) => document.getElementById(id);

const config = JSON.parse(byId('netcall-config').textContent);
const audioOnly = config.type === 'audio';
const ui = {
  ...callElements(),
  leave: /** @type {HTMLButtonElement} */ (byId('leave')),
  leftPanel: /** @type {HTMLElement} */ (byId('left-panel')),
  rejoin: /** @type {HTMLAnchorElement} */ (byId('rejoin')),
};

const nc = new Netcall({ account: config.account, token: config.token });
const tiles = new Tiles(nc, {
  container: ui.tiles,
  enableSound: ui.enableSound,
  avatar: true,
  audioOnly,
  decorate: ({ figure, account }) => addRecordButton(figure, account),
});
let left = false;

// --- tiles ----------------------------------------------------------------------------------------

function showLocal() {
  const stream = tiles.showLocal();
  ui.muteAudio.disabled = left || !stream?.getAudioTracks().length;
  ui.muteVideo.disabled = left || !stream?.getVideoTracks().length;
}

// --- status ---------------------------------------------------------------------------------------

/** @param {string} [prefix] an announcement to put before the summary */
function renderStatus(prefix = '') {
  const text = connectionText(nc, left ? 'You left the call.' : 'Disconnected.');
  ui.status.textContent = prefix ? `${prefix} ${text}` : text;
  ui.status.dataset.state = nc.connectionState;
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
  tiles.tileFor(account);
  tiles.render(account);
  renderStatus(`${account} joined.`);
});

nc.on('leaveChannel', ({ account }) => {
  tiles.remove(account);
  renderStatus(`${account} left.`);
});

nc.on('remoteTrack', ({ account, stream }) => tiles.play(account, stream));

nc.on('memberUpdated', ({ account }) => tiles.render(account));

nc.on('peerState', ({ account, state }) => {
  if (state !== 'closed') tiles.setPeerState(account, state);
});

nc.on('localTrack', () => showLocal());

nc.on('connectionState', ({ state }) => {
  renderStatus();
  if (state === 'connected' && !left) {
    ui.leave.disabled = false;
    showLocal();
  } else if (state === 'closed' && !left) {
    tiles.removeOthers();
    ui.muteAudio.disabled = true;
    ui.muteVideo.disabled = true;
    ui.leave.disabled = true;
  }
});

nc.on('error', (err) => {
  console.warn('netcall demo:', err.code, err.message);
  showNotice(ui.notice, describeError(err));
});

// --- controls -------------------------------------------------------------------------------------

bindMute(nc, ui.muteAudio, 'audio', () => tiles.render(config.account));
bindMute(nc, ui.muteVideo, 'video', () => tiles.render(config.account));
if (audioOnly) ui.muteVideo.hidden = true;

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
    tiles.removeAll();
    ui.rejoin.href = window.location.href;
    ui.leftPanel.hidden = false;
    renderStatus();
  }
});

// --- uploads (save: 'upload'): one progress bar per upload ---------------------------------------

/** @type {Map<string, {item: HTMLLIElement, bar: HTMLProgressElement, label: HTMLSpanElement}>} */
const uploadBars = new Map();
const UPLOAD_STATES = {
  uploading: 'uploading',
  retrying: 'connection lost, retrying',
  complete: 'on the server',
  failed: 'failed (kept in this browser, retried on the next visit)',
  recovering: 'finishing an earlier upload',
  recovered: 'earlier upload finished',
};

nc.on('uploadProgress', (progress) => {
  let bar = uploadBars.get(progress.uploadUrl);
  if (!bar) {
    const item = document.createElement('li');
    item.className = 'upload';
    item.dataset.upload = progress.uploadUrl;
    const label = document.createElement('span');
    const progressBar = document.createElement('progress');
    progressBar.max = 1;
    item.append(label, ' ', progressBar);
    byId('upload-list').append(item);
    byId('uploads').hidden = false;
    bar = { item, bar: progressBar, label };
    uploadBars.set(progress.uploadUrl, bar);
  }
  const whom = progress.kind === 'aac' ? 'mix' : progress.account;
  const kb = (/** @type {number} */ n) => `${Math.round(n / 1024)} KB`;
  const of = progress.final ? ` of ${kb(progress.size)}` : ` (${kb(progress.size)} recorded)`;
  bar.label.textContent = `${whom}: ${UPLOAD_STATES[progress.state] ?? progress.state}, ${kb(progress.sent)}${of}`;
  bar.item.dataset.state = progress.state;
  bar.bar.value = progress.size ? progress.sent / progress.size : 0;
  bar.bar.setAttribute('aria-label', `Upload of ${whom}`);
});

// No leaveChannel() on pagehide: the connection drops with the page, which the others see as a
// member who dropped ('disconnected'). A reload then comes back within the 20 s the others' recordings
// of us wait, into the same files; our own recordings are recovered from the journal on the next load.

// --- recording: a button per tile and for the mix, a live readout, the finished files -------------

const recordUi = {
  mix: /** @type {HTMLButtonElement} */ (byId('record-mix')),
  save: /** @type {HTMLSelectElement} */ (byId('record-save')),
  notices: /** @type {HTMLElement} */ (byId('record-notices')),
  running: /** @type {HTMLUListElement} */ (byId('record-running')),
  files: /** @type {HTMLUListElement} */ (byId('record-files')),
};
/** @typedef {{recorder?: string | null, target?: string | null, kind?: string | null}} Notice a RecordState */
/** @type {Map<string, Notice>} who records whom, room-wide */
const recordNotices = new Map();
/** @type {ReturnType<typeof setInterval> | undefined} */
let readoutTimer;
if (typeof (/** @type {any} */ (window).showSaveFilePicker) !== 'function') {
  recordUi.save.querySelector('option[value="picker"]')?.remove();
}

/** @param {number} bytes @returns {string} */
function formatSize(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : `${Math.round(bytes / 1024)} KB`;
}

/** @param {number} seconds @returns {string} m:ss */
function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * @param {'mp4'|'aac'} kind
 * @param {string} [account]
 * @returns {HTMLButtonElement | null}
 */
function recordButton(kind, account) {
  if (kind === 'aac') return recordUi.mix;
  return document.querySelector(`figure.tile[data-account="${CSS.escape(account ?? '')}"] button.record`);
}

/** @param {HTMLButtonElement | null} button @param {boolean} recording */
function setRecordButton(button, recording) {
  if (!button) return;
  button.setAttribute('aria-pressed', String(recording));
  const whom = button === recordUi.mix ? 'audio mix' : button.dataset.self ? 'yourself' : button.dataset.record;
  button.textContent = recording ? `Stop recording ${whom}` : `Record ${whom}`;
}

/**
 * A record button on a participant's tile.
 * @param {HTMLElement} figure
 * @param {string} account
 */
function addRecordButton(figure, account) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'record';
  button.dataset.record = account;
  if (account === config.account) button.dataset.self = 'true';
  setRecordButton(button, false);
  button.addEventListener('click', () => void toggleRecording('mp4', account, button));
  figure.append(button);
}

/**
 * @param {'mp4'|'aac'} kind
 * @param {string} account
 * @param {HTMLButtonElement} button
 */
async function toggleRecording(kind, account, button) {
  const recording = button.getAttribute('aria-pressed') === 'true';
  button.disabled = true;
  try {
    if (!recording) {
      const save = recordUi.save.value;
      if (kind === 'mp4') await nc.startRecordMp4({ account, save });
      else await nc.startRecordAac({ save });
      setRecordButton(button, true);
    } else {
      const result = kind === 'mp4' ? await nc.stopRecordMp4({ account }) : await nc.stopRecordAac();
      setRecordButton(button, false);
      addFinishedFile(result);
    }
  } catch (err) {
    const e = /** @type {{code?: string, message?: string}} */ (err);
    showNotice(ui.notice, `Recording: ${e.message ?? err}`);
    if (e.code === 'not_recording') setRecordButton(button, false);
  } finally {
    button.disabled = false;
    renderReadout();
  }
}

/** The running recordings with their elapsed time and size, refreshed every second while any runs. */
function renderReadout() {
  const running = nc.getRecordings().filter((r) => r.state !== 'ended');
  recordUi.running.replaceChildren(
    ...running.map((r) => {
      const item = document.createElement('li');
      item.dataset.kind = r.kind;
      item.dataset.account = r.account;
      const whom = r.kind === 'aac' ? 'Audio mix' : r.account === config.account ? 'You' : r.account;
      item.textContent = `● ${whom}: ${formatTime(r.elapsed)} · ${formatSize(r.size)} · ${r.fileName}`;
      return item;
    }),
  );
  if (running.length > 0 && readoutTimer === undefined) {
    readoutTimer = setInterval(renderReadout, 1000);
  } else if (running.length === 0 && readoutTimer !== undefined) {
    clearInterval(readoutTimer);
    readoutTimer = undefined;
  }
}

/**
 * List a finished recording with a player and a download link.
 * @param {{account: string, kind: string, blob: Blob, fileName: string, mimeType: string, size: number,
 *   duration: number | null, saved: string, reason?: string, recovered?: boolean}} result
 */
function addFinishedFile(result) {
  const url = URL.createObjectURL(result.blob);
  const item = document.createElement('li');
  item.dataset.kind = result.kind;
  item.dataset.account = result.account;
  if (result.recovered) item.dataset.recovered = 'true';
  const title = document.createElement('p');
  const whom = result.kind === 'aac' ? 'audio mix' : result.account;
  const duration = result.duration === null ? '' : ` · ${formatTime(result.duration)}`;
  const why = result.recovered
    ? ' · recovered from an earlier page'
    : result.reason && result.reason !== 'stopped'
      ? ` · ended: ${result.reason}`
      : '';
  title.textContent = `${result.fileName} (${whom}${duration} · ${formatSize(result.size)}${why})`;
  const player = document.createElement(result.kind === 'aac' ? 'audio' : 'video');
  player.controls = true;
  player.preload = 'metadata';
  player.src = url;
  player.setAttribute('aria-label', `Play ${result.fileName}`);
  const link = document.createElement('a');
  link.href = url;
  link.download = result.fileName;
  link.textContent = 'Download';
  item.append(title, player, ' ', link);
  recordUi.files.prepend(item);
}

/** Who records whom in this channel, in words. */
function renderNotices() {
  const lines = [...recordNotices.values()].map(({ recorder, target, kind }) => {
    const who = recorder === config.account ? 'You are' : `${recorder} is`;
    const whom = kind === 'aac' ? 'the audio mix' : target === config.account ? 'you' : target === recorder ? 'themselves' : target;
    return `${who} recording ${whom}.`;
  });
  recordUi.notices.textContent = lines.length ? lines.join(' ') : 'Nobody is recording.';
  recordUi.notices.dataset.count = String(lines.length);
  renderRecordedBadge();
}

/** On your own tile: who records you right now (your own recording, or someone else's of you or the mix). */
function renderRecordedBadge() {
  const figure = document.querySelector(`figure.tile[data-account="${CSS.escape(config.account)}"]`);
  if (!figure) return;
  const recorders = [...recordNotices.values()]
    .filter(({ target, kind }) => kind === 'aac' || target === config.account)
    .map(({ recorder }) => (recorder === config.account ? 'you' : recorder));
  let badge = /** @type {HTMLElement | null} */ (figure.querySelector('.recorded-badge'));
  if (!recorders.length) {
    badge?.remove();
    return;
  }
  if (!badge) {
    badge = document.createElement('span');
    badge.className = 'recorded-badge';
    figure.append(badge);
  }
  badge.textContent = `● Recorded by ${[...new Set(recorders)].join(', ')}`;
}

// --- consent: a dialog for each request to record you (join with ?recordConsent=ask) ---------------

const requestDialog = /** @type {HTMLDialogElement} */ (byId('record-request'));
/** @type {import('../netcall/consent.js').RecordRequest[]} */
const requests = [];

function askNext() {
  const request = requests[0];
  if (!request || requestDialog.open) return;
  const what = request.kind === 'aac' ? 'the audio mix of the call, your voice included' : 'you (camera and microphone)';
  byId('record-request-text').textContent = `${request.recorder} wants to record ${what}.`;
  requestDialog.returnValue = '';
  requestDialog.showModal();
}

requestDialog.addEventListener('close', () => {
  const request = requests.shift();
  if (request) {
    nc.respondRecordRequest(request.id, requestDialog.returnValue === 'accept').catch((err) => {
      showNotice(ui.notice, `Could not answer the request: ${describeError(err)}`);
    });
  }
  askNext();
});

nc.on('recordRequest', (request) => {
  requests.push(request);
  askNext();
});

nc.on('recordConsent', ({ target, kind, state }) => {
  if (state !== 'accepted') showNotice(ui.notice, `${target} refused to be recorded${kind === 'aac' ? ': the mix leaves their voice out' : ''}.`);
});

/** @param {Notice} record */
const noticeKey = ({ recorder, target, kind }) => `${recorder}|${target ?? ''}|${kind}`;

nc.on('recordStateChange', (change) => {
  if (!change.recorder || !change.kind) return;
  if (change.state === 'started') recordNotices.set(noticeKey(change), change);
  else recordNotices.delete(noticeKey(change));
  renderNotices();
});

nc.on('recordEnded', ({ account, kind, reason, result }) => {
  setRecordButton(recordButton(kind, account), false);
  if (result) addFinishedFile(result);
  renderReadout();
  if (reason === 'error') showNotice(ui.notice, `The recording of ${kind === 'aac' ? 'the mix' : account} failed.`);
});

// Recordings an earlier page of this browser left unfinished (tab closed, crashed or reloaded).
nc.on('recordRecovered', (result) => addFinishedFile(result));

nc.on('connectionState', ({ state }) => {
  recordUi.mix.disabled = state !== 'connected' && state !== 'reconnecting';
});

recordUi.mix.addEventListener('click', () => void toggleRecording('aac', config.account, recordUi.mix));

window.addEventListener('beforeunload', (event) => {
  // Closing the page ends the recordings it runs: ask first.
  if (nc.getRecordings().some((r) => r.state === 'recording')) event.preventDefault();
});

// --- join -----------------------------------------------------------------------------------------

tiles.tileFor(config.account);
tiles.render(config.account);
renderStatus();

// Live broadcast (lobby choice): the seed's liveEnable / sessionConfig, and the push state for the host.
const liveStatus = document.getElementById('live-status');
if (config.live && liveStatus) {
  liveStatus.hidden = false;
  liveStatus.textContent = config.live.sessionConfig?.rtmpUrl ? 'Live: starting the broadcast…' : 'Live: co-host';
}
nc.on('liveState', ({ state, retryIn }) => {
  if (!liveStatus) return;
  liveStatus.dataset.state = state;
  const words = {
    connecting: 'connecting to the RTMP server…',
    pushing: 'on air',
    retrying: `the RTMP server is not accepting the stream; retrying${retryIn ? ` in ${Math.round(retryIn)} s` : ''}`,
    failed: 'the broadcast failed',
    stopped: 'the broadcast stopped',
    ended: 'the broadcast ended',
  };
  liveStatus.textContent = `Live: ${words[/** @type {keyof typeof words} */ (state)] ?? state}`;
});

const askFirst = new URLSearchParams(location.search).get('recordConsent') === 'ask';
const ready = nc.joinChannel({
  channelName: config.channel,
  ...(askFirst ? { recordConsent: 'ask' } : {}),
  type: audioOnly ? Netcall.NETCALL_TYPE_AUDIO : Netcall.NETCALL_TYPE_VIDEO,
  ...(config.live ?? {}),
});
Object.assign(window, { netcall: nc, netcallReady: ready });
ready
  .then(() => {
    showLocal();
    renderStatus();
  })
  .catch((err) => {
    console.warn('netcall demo: could not join', err);
    showNotice(ui.notice, `Could not join the call: ${describeError(err)}`);
    renderStatus();
  });

ready
  .then(({ recordings }) => {
    for (const record of recordings ?? []) recordNotices.set(noticeKey(record), record);
    renderNotices();
  })
  .catch(() => {}); // reported above
