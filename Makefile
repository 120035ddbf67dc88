# wsrelay: the two set-up commands are `make run` and `make test`.
CARGO ?= cargo

.PHONY: run build test test-external test-prometheus test-backplane test-tls test-deflate-interop lint doc conformance e2e e2e-tls bench bench-quick bench-scale bench-scale-smoke bench-hop soak fuzz trace clean

## run: build and start the relay on 0.0.0.0:8080 with the defaults
run:
	$(CARGO) run --release -- serve

## build: release build of the binary
build:
	$(CARGO) build --release

## test: every unit and integration test, the bench harness's own tests, then those needing outside programs (CI runs the same)
test:
	$(CARGO) test --all-targets
	python3 bench/test_harness.py
	$(MAKE) test-external

## test-external: the tests that need a program besides Rust (one target each, installing it when missing)
test-external: test-prometheus test-backplane test-tls test-deflate-interop

## test-prometheus: /metrics read by Python's prometheus_client (python3 from apt, a venv under target/)
test-prometheus:
	CARGO=$(CARGO) ./tests/external/prometheus.sh

## test-backplane: the --backplane tests against real redis-server processes they start (installs Debian's redis-server when missing)
test-backplane:
	CARGO=$(CARGO) ./tests/external/redis.sh

## test-tls: wss:// and https:// from Python websockets (asyncio, ssl context) and curl --cacert (installs python3-venv, curl, websockets when missing)
test-tls:
	CARGO=$(CARGO) ./tests/external/tls.sh

## test-deflate-interop: permessage-deflate with Python websockets and Node ws (venv under target/, npm in tests/external/deflate/)
test-deflate-interop:
	CARGO=$(CARGO) ./tests/external/deflate.sh

## lint: formatting and clippy with warnings denied
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## doc: API docs with warnings denied
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

## conformance: Autobahn cases 1.*-10.*, and 12.*-13.* (permessage-deflate, about 6 min), via kosoku against `serve --mode echo`
conformance:
	./conformance/run.sh

## e2e: the /demo page in headless Chromium (installs chromium and playwright-core when missing)
e2e:
	./e2e/run.sh

## e2e-tls: the same /demo test over https:// and wss://, Chromium trusting the test certificate (openssl makes it)
e2e-tls:
	E2E_TLS=1 ./e2e/run.sh

## bench: wsrelay side by side with uWebSockets.js, tokio-tungstenite and Node ws (about 5 min once built); writes docs/benchmarks.md and docs/benchmarks.png
bench:
	./bench/run.sh

## bench-quick: a short smoke run of the same; report in bench/out/quick/
bench-quick:
	./bench/run.sh --quick

## soak: one relay under 2,000 healthy clients and 12 kinds of hostile ones for SOAK (default 10m; .ci/run uses 60s); samples in target/soak/
SOAK ?= 10m
soak:
	$(CARGO) build --release
	./target/release/wsrelay bench soak --duration $(SOAK) --samples target/soak/samples.csv --relay-log target/soak/relay.log

## bench-scale: relays behind one port (--reuse-port, one Redis) holding 25k, 100k, 250k connections in one room (CONNECTIONS=N: that point alone); writes docs/scaling.md's results and docs/scaling.png
bench-scale:
	CARGO=$(CARGO) ./bench/scale.sh

## bench-scale-smoke: the same with 3 relays and 20,000 connections, each receiving every message (CI)
bench-scale-smoke:
	CARGO=$(CARGO) ./bench/scale.sh --smoke

## bench-hop: publisher on node A, 1,000 subscribers over 4 relays joined by Redis, beside one relay; 3 runs; writes docs/scaling.md's "Cost of the hop" results
bench-hop:
	CARGO=$(CARGO) ./bench/hop.sh

## fuzz: each cargo-fuzz target for FUZZ_SECONDS (default 300), one after the other; needs `cargo install cargo-fuzz`; not in CI
FUZZ_SECONDS ?= 300
fuzz:
	cd fuzz && for target in parse_head decoder session publish_head admission; do \
		RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## trace: a traced upgrade against a relay already running on 127.0.0.1:8080
trace:
	$(CARGO) run --release -- client ws://127.0.0.1:8080/ --key dGhlIHNhbXBsZSBub25jZQ== --trace --send Hello --count 1 --wait 5s

## clean: remove build outputs
clean:
	$(CARGO) clean
