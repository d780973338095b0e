// Where a recording goes while it runs. A sink receives the recording's bytes in order
// (`write`), a few in-place corrections at the end (`patch`: the container fixers of
// webm-fix.js / mp4-fix.js overwrite reserved header bytes), then `close` or `abort`.
//
//   'none'      MemorySink: the bytes stay in a Blob, handed back in the stop result.
//   'download'  DownloadSink: a MemorySink whose Blob the browser downloads at the end.
//   'picker'    a save-as dialog at start (File System Access API); the bytes are streamed to that
//               file while recording, so memory stays flat. Falls back to 'download' where the
//               API is missing or the dialog is refused.
//   a FileSystemFileHandle (e.g. from navigator.storage.getDirectory(), the origin-private file
//               system): FileSink streams into it, as 'picker' does.
//   'folder'    a new file at the path's relative part inside the recordings folder the user granted
//               once (folder.js), streamed by a FileSink; falls back to 'download', and says so.
//   any other name: a factory registered with registerSink() (e.g. 'upload').
//   an object with write/patch/close/abort: used as the sink itself.

import { ClientErrorCode, NetcallError } from './errors.js';
import { folderFile } from './folder.js';
import { canPickFile, isWritableFileHandle } from './formats.js';
import { folderRecordPath } from './save-path.js';
import { UploadSink } from './upload.js';

/**
 * @typedef {object} SinkResult
 * @property {Blob} blob the finished file (a disk-backed File for file sinks: reading it costs no memory until read)
 * @property {string} saved how it was saved: 'none' | 'download' | 'file' | what a registered sink says
 * @property {string} fileName
 * @property {object} [extra] sink-specific details (e.g. an upload id)
 */

/**
 * @typedef {object} Sink
 * @property {(data: Uint8Array<ArrayBuffer>) => Promise<void>} write append bytes
 * @property {(position: number, data: Uint8Array<ArrayBuffer>) => Promise<void>} patch overwrite bytes already written
 * @property {() => Promise<SinkResult>} close finish the file
 * @property {() => Promise<void>} abort drop the file (best effort)
 * @property {string} kind what the sink is: 'none' | 'download' | 'file' | ...
 * @property {(target: {fileName: string, mimeType: string}) => void} [retarget] present when the sink can
 *   follow the recorder to another container before the first byte (memory and download sinks)
 * @property {() => void} [pause] the recording paused: no bytes come until `resume` (e.g. an upload keeps
 *   its connection's state alive meanwhile)
 * @property {() => void} [resume] the recording resumed
 */

/**
 * @typedef {object} SinkRequest
 * @property {string} fileName the suggested file name, extension included
 * @property {string} mimeType the container's MIME type (what the recorder produces)
 * @property {string} extension the extension, with its dot
 * @property {{account: string, kind: string, channelName: string | null}} recording what is recorded
 * @property {import('./save-path.js').FolderPath} [folderPath] where in the recordings folder (save: 'folder')
 */

/**
 * What opening a sink may need besides the request: the platform (downloads; storage and locks of
 * uploads) and, for `save: 'upload'` (upload.js), the join token and the SDK's events.
 * @typedef {object} SinkContext
 * @property {import('./platform.js').Platform} platform
 * @property {string} [token] the join token (the upload grant)
 * @property {import('./events.js').EventChannel['emit']} [emit] emits SDK events (uploadProgress)
 * @property {Promise<unknown>} [announced] settles once the server has the recording's `record.start` (upload.js waits for it)
 */

/** @typedef {(request: SinkRequest, context: SinkContext) => Sink | Promise<Sink>} SinkFactory */

/** Parts smaller than this stay as bytes (patchable in place); the rest become Blobs. */
const INLINE_BYTES = 256 * 1024;

/** Bytes in memory, handed out as a Blob. */
export class MemorySink {
  kind = 'none';
  /** @type {(Uint8Array<ArrayBuffer> | Blob)[]} */
  #parts = [];
  /** @type {number[]} start offset of each part */
  #starts = [];
  #size = 0;
  #fileName;
  #mimeType;

  /** @param {SinkRequest} request */
  constructor({ fileName, mimeType }) {
    this.#fileName = fileName;
    this.#mimeType = mimeType;
  }

  /**
   * The recorder fell back to another container before any byte was written (formats.js): the
   * file's name and type follow.
   * @param {{fileName: string, mimeType: string}} target
   */
  retarget({ fileName, mimeType }) {
    this.#fileName = fileName;
    this.#mimeType = mimeType;
  }

  /** @returns {string} the file name the result will carry */
  get fileName() {
    return this.#fileName;
  }

  /** @param {Uint8Array<ArrayBuffer>} data */
  async write(data) {
    this.#starts.push(this.#size);
    // Past the header, keep data in the browser's blob store rather than on the JS heap.
    this.#parts.push(this.#size < INLINE_BYTES ? data : new Blob([data]));
    this.#size += data.length;
  }

  /**
   * @param {number} position
   * @param {Uint8Array<ArrayBuffer>} data
   */
  async patch(position, data) {
    for (let done = 0; done < data.length; ) {
      const at = position + done;
      const index = this.#partAt(at);
      if (index < 0) throw new RangeError(`patch at ${at} is past the end (${this.#size})`);
      let part = this.#parts[index];
      if (part instanceof Blob) {
        part = new Uint8Array(await part.arrayBuffer());
        this.#parts[index] = part;
      }
      const offset = at - this.#starts[index];
      const n = Math.min(part.length - offset, data.length - done);
      part.set(data.subarray(done, done + n), offset);
      done += n;
    }
  }

  /** @returns {Promise<SinkResult>} */
  async close() {
    const blob = new Blob(/** @type {BlobPart[]} */ (this.#parts), { type: this.#mimeType });
    this.#parts = [];
    return { blob, saved: this.kind, fileName: this.#fileName };
  }

  async abort() {
    this.#parts = [];
  }

  /** @param {number} at @returns {number} index of the part holding byte `at`, or -1 */
  #partAt(at) {
    let lo = 0;
    let hi = this.#starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#starts[mid] <= at) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0 || at >= this.#size) return -1;
    return found;
  }
}

/** A MemorySink whose Blob the browser downloads under the file name. */
export class DownloadSink extends MemorySink {
  /** @override */
  kind = 'download';
  #platform;

  /**
   * @param {SinkRequest} request
   * @param {import('./platform.js').Platform} platform what downloads the file
   */
  constructor(request, platform) {
    super(request);
    this.#platform = platform;
  }

  /**
   * @override
   * @returns {Promise<SinkResult>}
   */
  async close() {
    const result = await super.close();
    this.#platform.download(result.blob, result.fileName);
    return result;
  }
}

/** Streams into a file (FileSystemFileHandle): memory stays flat however long it records. */
export class FileSink {
  kind = 'file';
  #handle;
  /** @type {FileSystemWritableFileStream | null} */
  #writable = null;
  #fileName;
  #position = 0;
  /** @type {object | undefined} */
  #extra;
  #release;

  /**
   * @param {FileSystemFileHandle} handle
   * @param {SinkRequest} request
   * @param {{kind?: string, extra?: object, release?: () => void}} [options] `kind`: what the result's
   *   `saved` says; `extra`: added to the result; `release`: called once closed or aborted
   */
  constructor(handle, { fileName }, { kind, extra, release } = {}) {
    this.#handle = handle;
    this.#fileName = handle.name || fileName;
    if (kind) this.kind = kind;
    this.#extra = extra;
    this.#release = release ?? (() => {});
  }

  /** @returns {FileSystemFileHandle} the file written to */
  get handle() {
    return this.#handle;
  }

  /** Open the file for writing (it is truncated). */
  async open() {
    this.#writable = await this.#handle.createWritable({ keepExistingData: false });
    return this;
  }

  /** @param {Uint8Array<ArrayBuffer>} data */
  async write(data) {
    await this.#stream().write({ type: 'write', position: this.#position, data });
    this.#position += data.length;
  }

  /**
   * @param {number} position
   * @param {Uint8Array<ArrayBuffer>} data
   */
  async patch(position, data) {
    await this.#stream().write({ type: 'write', position, data });
  }

  /** @returns {Promise<SinkResult>} */
  async close() {
    await this.#stream().close();
    this.#writable = null;
    this.#release();
    const blob = await this.#handle.getFile();
    return { blob, saved: this.kind, fileName: this.#fileName, ...(this.#extra ? { extra: this.#extra } : {}) };
  }

  async abort() {
    const writable = this.#writable;
    this.#writable = null;
    this.#release();
    await writable?.abort().catch(() => {});
  }

  /** @returns {FileSystemWritableFileStream} */
  #stream() {
    if (!this.#writable) throw new NetcallError(ClientErrorCode.SAVE_FAILED, 'the file is not open');
    return this.#writable;
  }
}

/** @type {Map<string, SinkFactory>} */
const registry = new Map();

/**
 * Add a named way to save recordings (e.g. 'upload'); `save: name` then uses it.
 * @param {string} name
 * @param {SinkFactory} factory
 */
export function registerSink(name, factory) {
  registry.set(name, factory);
}

/** @param {unknown} value @returns {value is Sink} */
function isSink(value) {
  const v = /** @type {any} */ (value);
  return (
    typeof v === 'object' &&
    v !== null &&
    ['write', 'patch', 'close', 'abort'].every((m) => typeof v[m] === 'function')
  );
}

/** @param {string} mimeType @param {string} extension @returns {any[]} showSaveFilePicker `types` */
function pickerTypes(mimeType, extension) {
  const base = mimeType.split(';')[0].trim();
  return [{ description: `${extension.slice(1).toUpperCase()} recording`, accept: { [base]: [extension] } }];
}

/**
 * Open the sink for `save`. Call it straight from the user's gesture for 'picker' (the dialog
 * needs one), before anything else is awaited.
 * @param {import('./recorder.js').SaveOption | undefined} save
 * @param {SinkRequest} request
 * @param {SinkContext} context
 * @returns {Promise<Sink>}
 */
export async function openSink(save, request, context) {
  if (Array.isArray(save)) return openTee(save, request, context);
  if (save === 'upload') return UploadSink.open(request, context);
  if (save === undefined || save === 'download') return new DownloadSink(request, context.platform);
  if (save === 'none') return new MemorySink(request);
  if (save === 'folder') return openFolderSink(request, context);
  if (isWritableFileHandle(save)) return new FileSink(save, request).open();
  if (isSink(save)) return save;
  if (save === 'picker') {
    if (!canPickFile()) {
      console.info('netcall: no save-as dialog in this browser; the recording will be downloaded');
      return new DownloadSink(request, context.platform);
    }
    /** @type {FileSystemFileHandle} */
    let handle;
    try {
      handle = await /** @type {any} */ (globalThis).showSaveFilePicker({
        suggestedName: request.fileName,
        types: pickerTypes(request.mimeType, request.extension),
      });
    } catch (err) {
      // AbortError: the user closed the dialog; SecurityError: no user gesture. Download instead.
      console.info('netcall: save-as dialog refused; the recording will be downloaded', err);
      return new DownloadSink(request, context.platform);
    }
    return new FileSink(handle, request).open();
  }
  if (typeof save === 'string') {
    const factory = registry.get(save);
    if (factory) return factory(request, context);
  }
  throw new NetcallError(
    ClientErrorCode.BAD_ARGUMENT,
    `save must be 'download', 'picker', 'folder', 'none', a registered name, a FileSystemFileHandle or a sink`,
  );
}

/**
 * save: 'folder' (folder.js): a new file in the recordings folder, or a download when there is none.
 * @param {SinkRequest} request
 * @param {SinkContext} context
 * @returns {Promise<Sink>}
 */
async function openFolderSink(request, context) {
  const target = request.folderPath ?? folderRecordPath(request.fileName, 'recording', request.extension);
  const file = await folderFile(target, { platform: context.platform, emit: context.emit, recording: request.recording });
  if (!file) return new DownloadSink(request, context.platform);
  const sink = new FileSink(file.handle, request, {
    kind: 'folder',
    extra: { path: file.path, folder: file.folder },
    release: file.release,
  });
  try {
    return await sink.open();
  } catch (err) {
    file.release();
    throw err;
  }
}

/**
 * Several sinks at once (`save: ['upload', 'download']`): every byte goes to each. The result is the
 * first sink's, with the others' `extra` merged in (e.g. the upload's recordingId and url).
 */
export class TeeSink {
  /** @param {Sink[]} sinks */
  constructor(sinks) {
    this.sinks = sinks;
    this.kind = sinks.map((s) => s.kind).join('+');
  }

  /** @param {{fileName: string, mimeType: string}} target */
  retarget(target) {
    for (const sink of this.sinks) sink.retarget?.(target);
  }

  /** @returns {boolean} whether every sink can follow a change of container */
  get canRetarget() {
    return this.sinks.every((s) => typeof s.retarget === 'function');
  }

  pause() {
    for (const sink of this.sinks) sink.pause?.();
  }

  resume() {
    for (const sink of this.sinks) sink.resume?.();
  }

  /** @param {Uint8Array<ArrayBuffer>} data */
  async write(data) {
    await Promise.all(this.sinks.map((s) => s.write(data)));
  }

  /** @param {number} position @param {Uint8Array<ArrayBuffer>} data */
  async patch(position, data) {
    await Promise.all(this.sinks.map((s) => s.patch(position, data)));
  }

  /** @returns {Promise<SinkResult>} */
  async close() {
    const results = await Promise.all(this.sinks.map((s) => s.close()));
    const extra = Object.assign({}, ...results.map((r) => r.extra ?? {}));
    return { ...results[0], saved: this.kind, extra };
  }

  async abort() {
    await Promise.all(this.sinks.map((s) => s.abort().catch(() => {})));
  }
}

/**
 * @param {unknown[]} saves
 * @param {SinkRequest} request
 * @param {SinkContext} context
 * @returns {Promise<Sink>}
 */
async function openTee(saves, request, context) {
  if (!saves.length) throw new NetcallError(ClientErrorCode.BAD_ARGUMENT, 'save: [] names no way to save');
  /** @type {Sink[]} */
  const sinks = [];
  try {
    // in order, so that a 'picker' first still runs inside the user's gesture
    for (const save of saves) sinks.push(await openSink(/** @type {any} */ (save), request, context));
  } catch (err) {
    await Promise.all(sinks.map((s) => s.abort().catch(() => {})));
    throw err;
  }
  return new TeeSink(sinks);
}
