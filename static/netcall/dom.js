// DOM helpers for pages that use the SDK. The only SDK module that touches media elements; the core
// modules (netcall, signalling, peers, devices) never do.

/**
 * Play a MediaStream in an <audio> or <video> element.
 *
 * Remote streams must be attached to an element that is not muted for their audio to play (and, in
 * Chromium, for WebAudio or MediaRecorder to see anything but silence). Attach your own stream muted,
 * or you hear yourself.
 *
 * @param {HTMLMediaElement} element
 * @param {MediaStream | null} stream null detaches
 * @param {{muted?: boolean}} [options] `muted`: no sound from this element (default false)
 * @returns {Promise<boolean>} true if the element plays; false if the browser's autoplay policy
 *   blocked it (call `element.play()` again from a user gesture) or there is nothing to play
 */
export async function attachStream(element, stream, { muted = false } = {}) {
  element.muted = muted;
  element.autoplay = true;
  if ('playsInline' in element) /** @type {HTMLVideoElement} */ (element).playsInline = true;
  if (element.srcObject !== stream) element.srcObject = stream;
  if (!stream) return false;
  try {
    await element.play();
    return true;
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    // AbortError: a newer srcObject or pause() interrupted this play(); the newer call reports.
    if (name === 'NotAllowedError' || name === 'AbortError') return false;
    throw err;
  }
}

/**
 * Stop showing a stream in an element.
 * @param {HTMLMediaElement} element
 */
export function detachStream(element) {
  element.srcObject = null;
}

/**
 * Let the browser download a Blob under `fileName` (what the recorder's 'download' sink does).
 * @param {Blob} blob
 * @param {string} fileName
 */
export function downloadBlob(blob, fileName) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.rel = 'noopener';
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  // The download has taken its own reference by now; give slow browsers a minute anyway.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Play a stream in a detached, muted media element. Chromium delivers a remote WebRTC audio
 * track to WebAudio and MediaRecorder only while some media element plays it; the recorder uses
 * this so that recordings do not depend on how the page shows the call.
 * @param {MediaStream} stream
 * @returns {() => void} stops playing
 */
export function playDetached(stream) {
  const element = document.createElement('audio');
  element.muted = true;
  element.autoplay = true;
  element.srcObject = stream;
  element.play().catch(() => {
    // Autoplay refused: the page's own elements (or a later gesture) will have to play it.
  });
  return () => {
    element.pause();
    element.srcObject = null;
  };
}
