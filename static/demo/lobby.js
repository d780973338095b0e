// The lobby form: go to /room/<channel>/?account=...[&type=audio], remembering the last choice.

const STORAGE_KEY = 'netcall.lobby';

const form = /** @type {HTMLFormElement | null} */ (document.getElementById('join-form'));

/** @returns {{account?: string, channel?: string, audioOnly?: boolean}} */
function loadChoice() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

/** @param {{account: string, channel: string, audioOnly: boolean}} choice */
function saveChoice(choice) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(choice));
  } catch {
    // Storage may be disabled; remembering is only a convenience.
  }
}

if (form) {
  const account = /** @type {HTMLInputElement} */ (form.elements.namedItem('account'));
  const channel = /** @type {HTMLInputElement} */ (form.elements.namedItem('channel'));
  const audioOnly = /** @type {HTMLInputElement} */ (form.elements.namedItem('type'));
  const saved = loadChoice();
  if (!account.value && saved.account) account.value = saved.account;
  if (!channel.value && saved.channel) channel.value = saved.channel;
  if (saved.audioOnly) audioOnly.checked = true;

  // The RTMP address is required of a host and of nobody else.
  const rtmpInput = /** @type {HTMLInputElement | null} */ (form.elements.namedItem('rtmpUrl'));
  form.addEventListener('change', () => {
    const live = /** @type {RadioNodeList | null} */ (form.elements.namedItem('live'));
    if (rtmpInput) rtmpInput.required = live?.value === 'host';
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const choice = { account: account.value.trim(), channel: channel.value.trim(), audioOnly: audioOnly.checked };
    if (!choice.account || !choice.channel) return;
    saveChoice(choice);
    const params = new URLSearchParams({ account: choice.account });
    if (choice.audioOnly) params.set('type', 'audio');
    const live = /** @type {RadioNodeList | null} */ (form.elements.namedItem('live'));
    const rtmpUrl = /** @type {HTMLInputElement | null} */ (form.elements.namedItem('rtmpUrl'));
    const rtmpRecord = /** @type {HTMLInputElement | null} */ (form.elements.namedItem('rtmpRecord'));
    if (live && live.value) {
      params.set('live', live.value);
      if (live.value === 'host' && rtmpUrl) params.set('rtmpUrl', rtmpUrl.value.trim());
      if (rtmpRecord?.checked) params.set('rtmpRecord', '1');
    }
    const roomUrl = (form.dataset.roomUrl ?? '/room/__channel__/').replace('__channel__', encodeURIComponent(choice.channel));
    window.location.assign(`${roomUrl}?${params}`);
  });
}
