/**
 * Live events for the staff app: the WebSocket /api/v1/events (the session cookie and this page's
 * Origin authenticate it), reconnecting with a growing pause when it drops. Events carry no
 * content, only which case changed; the app re-reads its inbox or case. Code 4001 means the
 * session ended: no reconnect, log in again.
 */
const CLOSE_ACCESS_ENDED = 4001;
const FIRST_PAUSE_MS = 1000;
const LONGEST_PAUSE_MS = 30_000;

export class LiveEvents {
  /** onEvent(event) for every event (and {topic: "ready"} after each (re)connect); onState(state). */
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.socket = null;
    this.pause = FIRST_PAUSE_MS;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.#connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket !== null) this.socket.close(1000);
    this.socket = null;
  }

  #connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    this.onState("connecting");
    const socket = new WebSocket(`${scheme}//${window.location.host}/api/v1/events`);
    this.socket = socket;
    socket.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event === null || typeof event !== "object" || typeof event.topic !== "string") return;
      if (event.topic === "ready") {
        this.pause = FIRST_PAUSE_MS;
        this.onState("connected");
      }
      this.onEvent(event);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (event.code === CLOSE_ACCESS_ENDED) {
        this.stopped = true;
        this.onState("ended");
        return;
      }
      this.onState("reconnecting");
      this.timer = setTimeout(() => this.#connect(), this.pause);
      this.pause = Math.min(this.pause * 2, LONGEST_PAUSE_MS);
    });
  }
}
