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
