// Errors raised by the netcall SDK. Every error has a stable machine `code` (the wire protocol's
// error codes of docs/protocol.md, plus a few client-side ones listed below) and a human `message`;
// every constructor takes them in that order: `new XError(code, message, options)`.

/**
 * Client-side error codes, in addition to the server's codes of docs/protocol.md.
 * @readonly
 * @enum {string}
 */
export const ClientErrorCode = Object.freeze({
  /** The signalling WebSocket could not be opened. */
  CONNECTION_FAILED: 'connection_failed',
  /** The signalling WebSocket closed while a request was waiting for its answer. */
  DISCONNECTED: 'disconnected',
  /** The server did not answer a request in time. */
  TIMEOUT: 'timeout',
  /** The SDK object was closed (leaveChannel / destroy) while a request was waiting. */
  CLOSED: 'closed',
  /** A camera or microphone could not be opened. */
  DEVICE_UNAVAILABLE: 'device_unavailable',
  /** The browser refused access to a camera or microphone. */
  DEVICE_DENIED: 'device_denied',
  /** A method was called at the wrong time (e.g. joinChannel while already in a channel). */
  INVALID_STATE: 'invalid_state',
  /** The browser lacks a capability the call needs. */
  UNSUPPORTED: 'unsupported',
  /** No such account, device or recording. */
  NOT_FOUND: 'not_found',
  /** An argument has the wrong type or value. */
  BAD_ARGUMENT: 'bad_argument',
  /** A peer connection could not be negotiated. */
  NEGOTIATION_FAILED: 'negotiation_failed',
  /** Recording: the call is not in a channel. */
  NOT_IN_CHANNEL: 'not_in_channel',
  /** Recording: the account to record is not a member of the channel. */
  NO_SUCH_ACCOUNT: 'no_such_account',
  /** Recording: that target (member or mix) is already being recorded by this client. */
  ALREADY_RECORDING: 'already_recording',
  /** Recording: stop called for a target that is not being recorded (the server's code too). */
  NOT_RECORDING: 'not_recording',
  /** Recording: the browser cannot record any usable container/codec (MediaRecorder). */
  NO_SUPPORTED_FORMAT: 'no_supported_format',
  /** Recording: the browser's recorder failed, or produced no data in time. */
  RECORDER_FAILED: 'recorder_failed',
  /** Recording: the file could not be written (disk full, permission revoked...). */
  SAVE_FAILED: 'save_failed',
  /** Recording: the member to record was asked (it joined with recordConsent 'ask') and refused. */
  RECORD_REFUSED: 'record_refused',
});

/** Base class of every error the SDK throws, rejects with, or emits as an 'error' event. */
export class NetcallError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} [message] human-readable text
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message = code, options = undefined) {
    super(message, options);
    this.name = 'NetcallError';
    /** @type {string} */
    this.code = code;
  }
}

/** A method was called at a time it cannot work (e.g. stop a recording when nothing records). Its code: `invalid_state`, or a more precise one. */
export class InvalidStateError extends NetcallError {
  /**
   * @param {string} code e.g. ClientErrorCode.INVALID_STATE
   * @param {string} [message]
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message = code, options = undefined) {
    super(code, message, options);
    this.name = 'InvalidStateError';
  }
}

/** The browser lacks something the SDK needs (WebRTC, a codec, getUserMedia...). Its code: `unsupported`, or a more precise one. */
export class UnsupportedError extends NetcallError {
  /**
   * @param {string} code e.g. ClientErrorCode.UNSUPPORTED
   * @param {string} [message]
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message = code, options = undefined) {
    super(code, message, options);
    this.name = 'UnsupportedError';
  }
}

/** The named account, device or recording does not exist. Its code: `not_found`, or a more precise one. */
export class NotFoundError extends NetcallError {
  /**
   * @param {string} code e.g. ClientErrorCode.NOT_FOUND
   * @param {string} [message]
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message = code, options = undefined) {
    super(code, message, options);
    this.name = 'NotFoundError';
  }
}
