// bff as a Cloudflare Worker. This module starts the Go program
// (build/bff.wasm, the ./worker package compiled with GOOS=js GOARCH=wasm by
// build.sh) once per isolate, and hands it every fetch event.
import "./build/wasm_exec.js";
import bffWasm from "./build/bff.wasm";

// started is the promise of Go's fetch handler, made by the first request:
// a Worker may not draw random numbers or set timers at module scope, and
// the Go runtime does both as it starts.
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
      const serve = await start();
      // Go reads the body as one array: a Worker's request bodies are
      // bounded by the plan, and net/http wants a reader it can block on.
      const body =
        request.body === null ? null : new Uint8Array(await request.arrayBuffer());
      serve({
        request,
        body,
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
