#!/usr/bin/env bash
# Installs the Debian packages Peernet for Swift needs, if any are missing. Idempotent: when
# everything is present it changes nothing and needs no privileges. Uses sudo when not root.
set -euo pipefail
packages=(
  libfuse3-dev fuse3            # the FUSE front end (and fusermount3)
  libsodium-dev                 # Salsa20, AEAD, secure memory
  libsecp256k1-dev              # identities and packet signatures
  libsqlite3-dev                # blockchain, cache and search index
  libssl-dev                    # libcrypto's ChaCha20-Poly1305: the transfer fast path's cipher
  b3sum                         # tests cross-check our BLAKE3 against it; the benchmark's baseline
  iproute2                      # tests/tools that run a node in a private network namespace
  pkg-config                    # SwiftPM finds the C libraries through it
  libcurl4                      # FoundationNetworking (the web API's tests are HTTP clients)
  curl openssl                  # the web API's HTTPS tests: a self-signed certificate, and a verifying client
  # The drive's tests run the programs people save files with, on a real mount:
  vim rsync sqlite3 git python3 libglib2.0-bin   # (libglib2.0-bin: gio save / gio trash)
)
# CPython's own file-system tests (test_os, test_shutil, ...) run in me/ as a conformance suite.
if command -v /usr/bin/python3 >/dev/null; then
  packages+=("libpython3.$(/usr/bin/python3 -c 'import sys; print(sys.version_info.minor)')-testsuite")
else
  packages+=(libpython3.11-testsuite)   # Debian 12's python3
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "install-deps: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
