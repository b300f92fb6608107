/**
 * The slow steps of the protocol run in a worker (worker.js) so that the page keeps drawing and
 * answering while Argon2id or the proof of work take their half second or more.
 */
import { b64decode, utf8Encode } from "./encoding.js";
import * as errors from "./errors.js";
import { argon2id } from "./kdf.js";
import { LOGIN_KEY_BYTES, loginKdfInput, loginKeysFromSeed } from "./keybundle.js";
import { PICKUP_KDF, pickupSalt, reporterKeysFromSeed } from "./pickup.js";
import { NONCE_BYTES, PowSolution, solve } from "./pow.js";

const ERRORS_BY_CODE = {
  malformed: errors.Malformed,
  too_large: errors.TooLarge,
  unsupported_version: errors.UnsupportedVersion,
  bad_proof_of_work: errors.BadProofOfWork,
};

class WorkerUnavailable extends Error {}

function rebuild(error) {
  const Class = ERRORS_BY_CODE[error.code];
  if (Class === undefined) return new Error(error.message);
  return error.reason === null ? new Class(error.message) : new Class(error.message, { reason: error.reason });
}

/** Run one task in a fresh module worker and terminate it; WorkerUnavailable if it cannot start. */
function inWorker(task, args) {
  return new Promise((resolve, reject) => {
    let worker;
    try {
      worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    } catch (error) {
      reject(new WorkerUnavailable(String(error)));
      return;
    }
    let started = false;
    worker.addEventListener("message", (event) => {
      if (event.data.ready) {
        started = true;
        worker.postMessage({ task, args });
        return;
      }
      worker.terminate();
      if (event.data.ok) resolve(event.data.result);
      else reject(rebuild(event.data.error));
    });
    worker.addEventListener("error", (event) => {
      worker.terminate();
      const message = event.message || "the worker could not run";
      reject(started ? new Error(message) : new WorkerUnavailable(message));
    });
  });
}

/**
 * Where the last task ran: "worker", or "page" when no worker could be started (then the page
 * blocks while it runs, but still works).
 */
export const lastRun = { where: null };

async function run(task, args, inline, { allowPage = true } = {}) {
  try {
    const result = await inWorker(task, args);
    lastRun.where = "worker";
    return result;
  } catch (error) {
    if (!(error instanceof WorkerUnavailable) || !allowPage) throw error;
    console.warn(`tipline: no worker (${error.message}); running ${task} on the page`);
    lastRun.where = "page";
    return inline();
  }
}

/** Argon2id of a pickup code off the page's thread: the locator and the reporter's key pair. */
export async function deriveReporterKeysInWorker(code, orgPublicKey, options = {}) {
  const args = {
    password: utf8Encode(code.normalised),
    salt: pickupSalt(orgPublicKey),
    opslimit: PICKUP_KDF.opslimit,
    memlimit: PICKUP_KDF.memlimit,
    size: 64,
  };
  const result = await run("argon2id", args, () => ({ output: argon2id(args.password, args.salt, PICKUP_KDF, 64) }), options);
  return reporterKeysFromSeed(result.output);
}

/** Argon2id of an investigator's passphrase off the page's thread (parameters checked first). */
export async function deriveLoginKeysInWorker(passphrase, salt, params, options = {}) {
  const input = loginKdfInput(passphrase, salt, params);
  const args = { password: input.password, salt, opslimit: params.opslimit, memlimit: params.memlimit, size: 2 * LOGIN_KEY_BYTES };
  const result = await run("argon2id", args, () => ({ output: argon2id(input.password, salt, params, args.size) }), options);
  return loginKeysFromSeed(result.output);
}

/** Solve a challenge (a PowChallenge from parseChallenge) off the page's thread. */
export async function solveInWorker(challenge, options = {}) {
  const args = { challenge: challenge.toJson(), start: 0 };
  const result = await run("solve", args, () => ({ nonce: null, solution: solve(challenge) }), options);
  if (result.solution) return result.solution;
  return new PowSolution(challenge, b64decode(result.nonce, { what: "nonce", length: NONCE_BYTES }));
}
