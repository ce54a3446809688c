// bff as a Cloudflare Worker. This module starts the Go program
// (build/bff.wasm, the ./worker package compiled with GOOS=js GOARCH=wasm by
// build.sh) once per isolate, and hands it every fetch event.
import "./build/wasm_exec.js";
import bffWasm from "./build/bff.wasm";

// started is the promise of Go's fetch handler and its bound on request
// bodies, made by the first request: a Worker may not draw random numbers
// or set timers at module scope, and the Go runtime does both as it starts.
let started;

// inflight are the requests Go is serving, to be failed if it exits.
const inflight = new Set();

function start() {
  if (!started) {
    started = new Promise((ready, fail) => {
      // main calls this with its handler once it serves.
      globalThis.__bffReady = ready;
      const go = new Go();
      WebAssembly.instantiate(bffWasm, go.importObject)
        .then((instance) => go.run(instance))
        .then(
          () => new Error("bff exited"),
          (err) => err,
        )
        .then((err) => {
          // The next request starts a fresh program.
          started = undefined;
          fail(err);
          for (const r of inflight) r.fail(err);
        });
    });
  }
  return started;
}

// bell arms a promise in the calling request's context and returns the
// function that resolves it; each time, wake runs in that request's context
// and the bell is armed again. workerd ties a fetch, and a response body,
// to the request whose code is running, and runs a promise's continuation
// in the request that armed it, whoever resolves it. Go's goroutines are
// tied to nothing: one request's goroutine may wake inside another's event
// (several requests waiting for the one refresh of their session), so
// before calling into JavaScript for its request it rings that request's
// bell and goes on in the continuation (see internal/jsctx).
function bell(wake) {
  let ring;
  const arm = () => {
    new Promise((resolve) => {
      ring = resolve;
    }).then(() => {
      arm();
      wake();
    });
  };
  arm();
  return () => ring();
}

// tooLarge is readBody's answer for a body over the bound.
const tooLarge = Symbol("tooLarge");

// readBody reads a request's body into one array, as Go takes it (net/http
// wants a reader it can block on), or null without one. A body over max
// bytes is not read, or not read further, and is tooLarge: the plan's own
// bound on request bodies is far over what an isolate's memory holds.
async function readBody(request, max) {
  if (request.body === null) return null;
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > max) return tooLarge;
  const reader = request.body.getReader();
  const chunks = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      await reader.cancel();
      return tooLarge;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}

export default {
  async fetch(request, env) {
    // A request that waits for another's work (the program starting, a
    // refresh it shares) has nothing of its own pending meanwhile, and
    // workerd cancels such a request as hung. A timer is something pending;
    // it runs until Go is done with the request.
    const alive = setInterval(() => {}, 1000);
    let settle;
    const answered = new Promise((resolve, reject) => {
      settle = { resolve, reject };
    });
    const r = {
      fail(err) {
        clearInterval(alive);
        inflight.delete(r);
        settle.reject(err);
      },
    };
    inflight.add(r);
    try {
      const bff = await start();
      const body = await readBody(request, bff.maxBody);
      bff.fetch({
        request,
        body: body === tooLarge ? null : body,
        tooLarge: body === tooLarge,
        env,
        resolve: settle.resolve,
        reject: settle.reject,
        bell,
        done() {
          clearInterval(alive);
          inflight.delete(r);
        },
      });
    } catch (err) {
      r.fail(err);
    }
    return answered;
  },
};
