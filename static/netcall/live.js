// Live mode (liveEnable): the server participants of a channel and the live push events.
//
// A channel with a live session has a server member, `#recorder` (accounts starting with '#' are
// reserved for the server; no token can name one). Hosts and co-hosts — members that joined with
// `liveEnable` — open one more RTCPeerConnection to it and always send the first offer; it answers,
// sends no media, and mixes, pushes and records what it receives. Members that joined without
// `liveEnable` never connect to it. Server members are not members of the call for the page: they do
// not appear in `members`, and no joinChannel/leaveChannel events are emitted for them.

/** The prefix of the accounts reserved for server participants (docs/protocol.md). */
export const SERVER_ACCOUNT_PREFIX = '#';

/**
 * @param {string} account
 * @returns {boolean} whether `account` is a server participant such as `#recorder`
 */
export function isServerAccount(account) {
  return typeof account === 'string' && account.startsWith(SERVER_ACCOUNT_PREFIX);
}

/**
 * @typedef {object} LiveState
 * @property {'connecting'|'pushing'|'retrying'|'failed'|'stopped'|'ended'} state of the RTMP push
 *   (`ended`: the live session is over; `reason` says why)
 * @property {string} session the live session's id
 * @property {number} [attempt] connection attempts since the last success
 * @property {number | null} [retryIn] seconds until the next attempt (`retrying`)
 * @property {string | null} [error] why the last attempt failed
 * @property {boolean} recording whether the session is also recorded on the server (rtmpRecord)
 * @property {string} [reason] why the session ended: host_left, empty, max_duration, ...
 */

/**
 * The payload of the 'liveState' event, from a `live.state` server frame.
 * @param {any} frame
 * @returns {LiveState}
 */
export function liveStateChange(frame) {
  /** @type {LiveState} */
  const state = {
    state: frame.state,
    session: frame.session,
    attempt: frame.attempt ?? 0,
    retryIn: frame.retryIn ?? null,
    error: frame.error ?? null,
    recording: Boolean(frame.recording),
  };
  if (frame.reason) state.reason = frame.reason;
  return state;
}
