/**
 * Talking to the gateway: JSON requests with the gateway's errors as one exception type, proofs
 * of work solved in a worker, and uploads through XMLHttpRequest (the one browser API that reports
 * upload progress everywhere). Answers are read with the protocol's strict JSON parser.
 */
import { b64encode, canonicalJson, parseJson } from "../protocol/encoding.js";
import { parseChallenge } from "../protocol/pow.js";
import { solveInWorker } from "../protocol/tasks.js";

// A case with many messages and attachments is large; anything beyond this is not an answer.
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;
// A gateway asking for more work than this is broken or hostile (as gateway/client/reporter.py).
export const MAX_ACCEPTED_DIFFICULTY = 26;
export const PROOF_HEADER = "X-Tipline-Proof";

/** The gateway refused (or could not be reached: status 0, code "network"). */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The client refuses to go on: something the gateway sent does not verify. `code` says what. */
export class Refusal extends Error {
  constructor(code, detail = "") {
    super(detail || code);
    this.code = code;
  }
}

function parseAnswer(text, what) {
  return text === "" ? null : parseJson(text, { maxBytes: MAX_ANSWER_BYTES, what });
}

function errorOf(status, text, retryAfter) {
  let code = "unexpected_status";
  let message = `HTTP ${status}`;
  try {
    const body = parseAnswer(text, "error");
    if (body && typeof body.error === "object" && body.error !== null) {
      code = String(body.error.code ?? code);
      message = String(body.error.message ?? message);
    }
  } catch {
    // Not the gateway's JSON (a proxy's page): the status says enough.
  }
  const seconds = Number.parseInt(retryAfter ?? "", 10);
  return new ApiError(status, code, message, Number.isFinite(seconds) ? seconds : null);
}

/**
 * One request; resolves to the parsed JSON answer (null for 204), or rejects with ApiError.
 * Cookies go only to this origin (the investigators' session); reporters never have one.
 */
export async function request(method, path, { json = undefined, headers = {}, expect = [200, 201] } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin", cache: "no-store", redirect: "error" };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "network", String(error));
  }
  const text = await response.text();
  if (!expect.includes(response.status)) throw errorOf(response.status, text, response.headers.get("Retry-After"));
  return response.status === 204 ? null : parseAnswer(text, "answer");
}

/** The raw text of a GET (for structures the protocol modules parse themselves). */
export async function getText(path) {
  let response;
  try {
    response = await fetch(path, { credentials: "same-origin", cache: "no-store", redirect: "error" });
  } catch (error) {
    throw new ApiError(0, "network", String(error));
  }
  const text = await response.text();
  if (response.status !== 200) throw errorOf(response.status, text, response.headers.get("Retry-After"));
  return text;
}

/** A fresh proof of work for `purpose`, solved in a worker: the {challenge, mac, nonce} token. */
export async function proofOfWork(purpose) {
  const challenge = parseChallenge(await getText(`/api/v1/pow?purpose=${encodeURIComponent(purpose)}`));
  if (challenge.purpose !== purpose || challenge.difficulty > MAX_ACCEPTED_DIFFICULTY) {
    throw new Refusal("unreasonable_proof_of_work");
  }
  return (await solveInWorker(challenge)).toJson();
}

/** The token as the X-Tipline-Proof header carries it: base64url of its canonical JSON. */
export function proofHeader(token) {
  return b64encode(canonicalJson(token));
}

/**
 * POST a Blob with upload progress: onProgress(sentBytes, totalBytes). Resolves to the JSON
 * answer; rejects with ApiError. `signal` (an AbortSignal) cancels the upload.
 */
export function upload(path, blob, { headers = {}, onProgress = null, signal = null } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    if (onProgress) xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded, blob.size));
    xhr.addEventListener("load", () => {
      if (xhr.status !== 201) {
        reject(errorOf(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After")));
        return;
      }
      try {
        resolve(parseAnswer(xhr.responseText, "upload answer"));
      } catch (error) {
        reject(error);
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the upload did not reach the gateway")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "the upload was cancelled")));
    if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(blob);
  });
}
