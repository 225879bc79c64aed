# Peernet for Swift. The two commands of README.md:
#   make mount   install what is missing, build, and run the main job
#   make test    install what is missing, build, and run the whole test suite
SWIFT ?= swift
MOUNTPOINT ?= $(HOME)/Peernet

.PHONY: deps build release mount test bench fuzz clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The final form is `peernet mount $(MOUNTPOINT)` (the FUSE filesystem, issue #8). Until the
# filesystem lands this creates (or shows) the node's identity.
mount: release
	.build/release/peernet identity

# The executables are built first: the CLI tests run the real `peernet` binary.
test: deps
	$(SWIFT) build
	$(SWIFT) test --disable-swift-testing

bench: deps
	$(SWIFT) build -c release --product peernet-bench
	.build/release/peernet-bench

clean:
	rm -rf .build
