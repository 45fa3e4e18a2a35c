# superd — build, test, run, install.

GO        ?= go
PREFIX    ?= /usr/local
DESTDIR   ?=
CONFDIR   ?= /etc/superd.d
UNITDIR   ?= /lib/systemd/system
BIN       := bin/superd
# Debian packages the tests use: promtool (prometheus), socat,
# systemd-socket-activate (systemd).
TEST_DEBS := prometheus socat systemd
TEST_TIMEOUT ?= 12m

export CGO_ENABLED := 0

.PHONY: all build test test-deps race fuzz bench gobench run install vet clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/superd

# Installs missing Debian packages when run as root, then runs every test
# (unit tests of each package, fuzz seed corpora, and the integration
# tests in test/ that build and run the real binary).
test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-deps:
	@missing=""; for p in $(TEST_DEBS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing >/dev/null || \
			{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing >/dev/null; }; \
		else \
			echo "not root: tests needing$$missing will skip"; \
		fi; \
	fi

race:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

FUZZTIME ?= 30s
fuzz:
	@for pkg in ./config ./acl ./listener ./builtin ./convert; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
		done; \
	done

# Side-by-side benchmark against xinetd, openbsd-inetd, tcpserver and a C
# accept-fork-exec baseline (installs them when run as root); writes
# BENCHMARKS.md. QUICK=1 for a short run.
bench:
	bash bench/run.sh

# Go micro-benchmarks of the packages (accept, acl, spawn paths).
gobench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

# Runs superd in the foreground on the example services (loopback,
# unprivileged ports; no root needed).
run: build
	./$(BIN) run -config conf.d

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/superd
	install -d -m 0755 $(DESTDIR)$(CONFDIR)
	install -m 0644 conf.d/*.hcl $(DESTDIR)$(CONFDIR)/
	install -D -m 0644 systemd/superd.service $(DESTDIR)$(UNITDIR)/superd.service
	install -D -m 0644 systemd/superd.socket $(DESTDIR)$(UNITDIR)/superd.socket

clean:
	rm -rf bin
