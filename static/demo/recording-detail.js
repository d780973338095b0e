// The recording detail page: the timeline's buttons seek the player; the playhead follows it.
// Everything works from the keyboard (they are buttons) and is announced in the page's status line.

const player = /** @type {HTMLMediaElement | null} */ (document.getElementById('player'));
const timeline = document.getElementById('timeline');
const playhead = document.getElementById('timeline-playhead');
const seekStatus = document.getElementById('seek-status');
const duration = Number(timeline?.dataset.duration ?? 0);

/** @param {number} seconds */
function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

if (player && timeline) {
  timeline.addEventListener('click', (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    const button = /** @type {HTMLElement | null} */ (target.closest('[data-seek]'));
    if (!button) return;
    const t = Number(button.dataset.seek);
    if (!Number.isFinite(t)) return;
    player.currentTime = t;
    if (seekStatus) seekStatus.textContent = `Playing from ${clock(t)}`;
    player.play().catch(() => {}); // a browser may refuse to play without a gesture it counts
  });
  player.addEventListener('timeupdate', () => {
    const total = Number.isFinite(player.duration) && player.duration > 0 ? player.duration : duration;
    if (playhead && total > 0) playhead.style.left = `${Math.min(100, (100 * player.currentTime) / total)}%`;
  });
}
export {};
