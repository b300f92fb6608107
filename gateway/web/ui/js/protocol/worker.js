/**
 * A module worker for the protocol's slow steps, so that pages stay responsive: Argon2id (pickup
 * codes, passphrases) and proof-of-work solving. One task per worker; tasks.js starts it and
 * terminates it afterwards, so no secret lingers in a worker's memory.
 */
import { b64encode } from "./encoding.js";
import { KdfParams, argon2id } from "./kdf.js";
import { parseChallenge, solve } from "./pow.js";

const tasks = {
  argon2id({ password, salt, opslimit, memlimit, size }) {
    return { output: argon2id(password, salt, new KdfParams(opslimit, memlimit), size) };
  },
  solve({ challenge, start }) {
    const solution = solve(parseChallenge(challenge), { start });
    return { nonce: b64encode(solution.nonce) };
  },
};

self.addEventListener("message", (event) => {
  const { task, args } = event.data;
  try {
    if (!Object.hasOwn(tasks, task)) throw new Error(`unknown task ${task}`);
    self.postMessage({ ok: true, result: tasks[task](args) });
  } catch (error) {
    self.postMessage({ ok: false, error: { name: error.name, code: error.code ?? null, reason: error.reason ?? null, message: error.message } });
  }
});

self.postMessage({ ready: true });
