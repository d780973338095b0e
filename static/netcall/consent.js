// Consent to being recorded (the server's side: recording/signalling/consent.py, docs/protocol.md).
//
// A member that joined with recordConsent 'ask' is asked before anyone records it. For the recorder,
// `record.start` of such a member is acknowledged as pending; the recording starts only once the
// member's answer (a 'record.consent' frame, emitted as the 'recordConsent' event) says 'accepted', and a
// refusal rejects startRecordMp4 with `record_refused`. A mix starts at once and leaves out (silence)
// every member asked who has not accepted. This module keeps the answers; it touches no DOM.

import { ClientErrorCode, NetcallError } from './errors.js';
import { NetcallEvent } from './events.js';

/**
 * @typedef {object} RecordRequest
 * @property {string} id answer it with respondRecordRequest(id, accept)
 * @property {string} recorder who wants to record
 * @property {'mp4' | 'aac'} kind 'mp4': you; 'aac': the mix of every voice
 */

/**
 * @typedef {object} RecordConsentAnswer
 * @property {string} id the request
 * @property {string} target who was asked
 * @property {'mp4' | 'aac'} kind
 * @property {'accepted' | 'refused' | 'pending'} state 'pending': a member to be asked joined while your
 *   mix runs (the mix leaves it out until it accepts)
 * @property {any} record the recording notice an accepted mp4 request started, else null
 */

/**
 * @typedef {object} ConsentQuestion
 * @property {string} id
 * @property {string} target
 * @property {string} kind
 * @property {string} state 'pending' | 'accepted' | 'refused'
 */

/** @param {any} frame a 'record.consent' frame @returns {RecordConsentAnswer} */
export function consentAnswer(frame) {
  return { id: frame.request, target: frame.target, kind: frame.kind, state: frame.state, record: frame.record ?? null };
}

/** @param {any} frame a 'record.request' frame @returns {RecordRequest} */
export function recordRequest(frame) {
  return { id: frame.request, recorder: frame.recorder, kind: frame.kind };
}

/** The answers this client's requests got, kept from the start so none arrives before anyone waits. */
export class ConsentBook {
  /** @type {Map<string, RecordConsentAnswer>} */
  #answers = new Map();
  /** @type {Set<(answer: RecordConsentAnswer) => void>} */
  #listeners = new Set();
  #events;

  /** @param {Pick<import('./events.js').EventChannel, 'on'>} events */
  constructor(events) {
    this.#events = events;
    events.on(NetcallEvent.RECORD_CONSENT, (answer) => {
      if (answer.state !== 'pending') this.#answers.set(answer.id, answer);
      for (const fn of [...this.#listeners]) fn(answer);
    });
  }

  /**
   * The answer to request `id`, when it comes.
   * @param {string} id
   * @returns {Promise<RecordConsentAnswer>}
   */
  answer(id) {
    const known = this.#answers.get(id);
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => {
      /** @param {RecordConsentAnswer} answer */
      const fn = (answer) => {
        if (answer.id !== id) return;
        this.#listeners.delete(fn);
        resolve(answer);
      };
      this.#listeners.add(fn);
    });
  }

  /**
   * The ack of `record.start`, once every mp4 question in it is answered: an accepted one carries the
   * recording notice; a refusal rejects with `record_refused`.
   * @param {Promise<any>} ack
   * @returns {Promise<any>}
   */
  async started(ack) {
    const data = await ack;
    const question = /** @type {ConsentQuestion[]} */ (data?.consent ?? []).find(
      (q) => q.kind === 'mp4' && q.state === 'pending',
    );
    if (!question) return data;
    // The member may leave before answering: then there is nobody to record.
    let offLeave = () => {};
    const left = new Promise((_, reject) => {
      offLeave = this.#events.on(NetcallEvent.LEAVE_CHANNEL, ({ account }) => {
        if (account !== question.target) return;
        reject(new NetcallError(ClientErrorCode.NO_SUCH_ACCOUNT, `${question.target} left before answering`));
      });
    });
    const answer = await Promise.race([this.answer(question.id), left]).finally(offLeave);
    if (answer.state !== 'accepted') {
      throw new NetcallError(ClientErrorCode.RECORD_REFUSED, `${question.target} refused to be recorded`);
    }
    return { ...data, record: answer.record };
  }

  /**
   * Who a mix must leave out for now (asked, not accepted), and a call for each later acceptance.
   * @param {ConsentQuestion[]} questions from the ack of the mix's record.start
   * @param {(account: string) => void} onAccepted called to rewire the mix (an acceptance, or a newcomer left out)
   * @returns {{excluded: Set<string>, close: () => void}}
   */
  mix(questions, onAccepted) {
    const excluded = new Set(questions.map((q) => q.target));
    const ids = new Map(questions.map((q) => [q.id, q.target]));
    /** @param {RecordConsentAnswer} answer */
    const fn = (answer) => {
      if (answer.state === 'pending' && answer.kind === 'aac' && !ids.has(answer.id)) {
        // A member to be asked joined while this mix runs: out of it until it accepts.
        ids.set(answer.id, answer.target);
        excluded.add(answer.target);
        onAccepted(answer.target); // rewire: now without that voice
        return;
      }
      const target = ids.get(answer.id);
      if (target === undefined || answer.state !== 'accepted') return;
      excluded.delete(target);
      onAccepted(target);
    };
    for (const id of ids.keys()) {
      const known = this.#answers.get(id);
      if (known) fn(known);
    }
    this.#listeners.add(fn);
    return { excluded, close: () => this.#listeners.delete(fn) };
  }
}
