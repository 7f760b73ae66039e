# idconn: every entry point. `just demo` and `just test` do everything on a
# fresh machine.

set shell := ["bash", "-euo", "pipefail", "-c"]

components_target := "components/target/wasm32-wasip2/release"

# List the recipes.
default:
    @just --list

# Install what is missing: the wasm32-wasip2 target, Debian packages, Python test clients.
setup:
    scripts/setup.sh

# Build the guest components (release, wasm32-wasip2).
build-components: setup
    cd components && cargo build --target wasm32-wasip2 --release --workspace

# Build everything: components, the idconn host, the Exchange simulator, and
# the tests (built together so `cargo test` reuses the same artifacts: a
# binaries-only build resolves other dependency features and would compile
# wasmtime twice).
build: build-components && build-python
    cargo build --workspace --all-targets

# Build the Python connector (componentize-py) and stamp its manifest with
# `idconn manifest set` (needs the idconn binary: `just build` runs it last).
build-python: setup
    scripts/build-python.sh

# The whole test suite: host, protocol, simulator, components, third-party clients.
test: build
    cargo test --workspace
    cd components && cargo test --workspace
    python3 -m pytest -q tests/python

# Formatting and lints, as CI expects them.
lint: setup
    cargo fmt --all -- --check
    cd components && cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cd components && cargo clippy --workspace --all-targets -- -D warnings
    cd components && cargo clippy --target wasm32-wasip2 --workspace -- -D warnings

# The main job end to end: an export, shown with its files.
demo: build
    scripts/demo.sh

# The demo over Kerberos: a throwaway MIT realm (KDC on loopback), the
# simulator accepting only Kerberos, exports over a sealed session.
demo-kerberos: build
    scripts/demo-kerberos.sh

# Benchmarks (release build; 2 to 4 minutes on 2 cores once built, the first
# release build of wasmtime adds about ten): the export over HTTP (HttpBasic and
# Kerberos), pypsrp, the drain-only floor, wasm overhead, component start and
# hot swap, CLIXML decode; writes BENCHMARKS.md. The release target dir is
# kept between runs, so only what changed is rebuilt.
bench: build-components
    cargo build --release -p idconn-host -p exchange-sim -p krb5-realm -p idconn-bench
    cd components && cargo build --release --example export_bench -p exchange
    cargo bench -p idconn-psrp --bench clixml_decode -- --warm-up-time 0.5 --measurement-time 1 | tee target/clixml-bench.txt
    target/release/idconn-bench --runs 3 --clixml-summary target/clixml-bench.txt

# 1,000,000 mailboxes once (and 100,000 on the same terms): time and peak
# RSS, written to target/bench-million.txt; the next `just bench` reports
# them in BENCHMARKS.md (issue 17).
bench-million: build-components
    cargo build --release -p idconn-host -p exchange-sim -p krb5-realm -p idconn-bench
    cd components && cargo build --release --example export_bench -p exchange
    target/release/idconn-bench --million

# Fuzz a decoder: target clixml or fragment (nightly toolchain; installs cargo-fuzz).
fuzz target="clixml" seconds="60":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
    cd runtime/psrp && cargo +nightly fuzz run {{target}} -- -max_total_time={{seconds}}

# Show what a component is: world, version, imports, exports, digest.
inspect component=(components_target + "/exchange.wasm"): build
    target/debug/idconn inspect {{component}}
