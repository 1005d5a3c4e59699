# workerd configuration for the example Worker (what `wrangler dev` would
# generate from wrangler.toml). Serve it from the build folder:
#   workerd serve build/config.capnp                 # compatibility date 2026-10-01
#   workerd serve build/config.capnp compat2024      # compatibility date 2024-01-01
# Override the address with --socket-addr http=127.0.0.1:PORT.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .vhdxWorker), .internet ],
  sockets = [ .httpSocket ],
);

const compat2024 :Workerd.Config = (
  services = [ (name = "main", worker = .vhdxWorker2024), .internet ],
  sockets = [ .httpSocket ],
);

const httpSocket :Workerd.Socket = (name = "http", address = "127.0.0.1:8787", http = (), service = "main");

# Outgoing fetch(): public addresses and this machine's loopback (for an
# origin served locally while trying it out). Drop "local" in production.
const internet :Workerd.Service = (
  name = "internet",
  network = (allow = ["public", "local"]),
);

const modules :List(Workerd.Worker.Module) = [
  (name = "worker.js", esModule = embed "worker.js"),
  (name = "vhdx.wasm", wasm = embed "vhdx.wasm"),
  (name = "vhdx.simd.wasm", wasm = embed "vhdx.simd.wasm"),
];

const bindings :List(Workerd.Worker.Binding) = [
  # the default source when a request has no ?url=
  (name = "SOURCE_URL", fromEnvironment = "SOURCE_URL"),
];

# No compatibility flags: in particular no nodejs_compat, which the library
# does not need.
const vhdxWorker :Workerd.Worker = (
  modules = .modules,
  bindings = .bindings,
  compatibilityDate = "2026-10-01",
);

const vhdxWorker2024 :Workerd.Worker = (
  modules = .modules,
  bindings = .bindings,
  compatibilityDate = "2024-01-01",
);
