# Peernet for Swift. The two commands of README.md:
#   make mount   install what is missing, build, and run the main job
#   make test    install what is missing, build, and run the whole test suite
SWIFT ?= swift
MOUNTPOINT ?= $(HOME)/Peernet

.PHONY: deps build release mount install test bench fuzz clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Mounts the network at $(MOUNTPOINT) in the foreground (Ctrl-C unmounts). Uses the default
# configuration: the public root peers and LAN discovery.
mount: release
	.build/release/peernet mount $(MOUNTPOINT)

# System integration (see Mount/README.md): binary, mount(8) helper, systemd user unit, docs.
PREFIX ?= /usr/local
install: release
	install -D -m 0755 .build/release/peernet $(DESTDIR)$(PREFIX)/bin/peernet
	install -D -m 0755 Mount/mount.peernet $(DESTDIR)/sbin/mount.fuse.peernet
	ln -sf mount.fuse.peernet $(DESTDIR)/sbin/mount.peernet
	install -D -m 0644 Mount/peernet-mount.service $(DESTDIR)$(PREFIX)/lib/systemd/user/peernet-mount.service
	install -D -m 0644 Mount/README.md $(DESTDIR)$(PREFIX)/share/doc/peernet/Mount/README.md

# Everything (executables and tests) is built first, in one build: the CLI tests run the real
# `peernet` binary. (A plain `swift build` and then the test build relinked the executables
# twice: 13 s more a run, measured.) Warnings are errors here (the project builds without any;
# dependencies are not affected).
WERROR ?= -Xswiftc -warnings-as-errors
test: deps
	$(SWIFT) build --build-tests $(WERROR)
	$(SWIFT) test --skip-build --disable-swift-testing

bench: deps
	$(SWIFT) build -c release --product peernet-bench
	.build/release/peernet-bench

clean:
	rm -rf .build
