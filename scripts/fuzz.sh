#!/usr/bin/env bash
# Builds the libFuzzer target for the packet and message decoders and runs it.
#   scripts/fuzz.sh [SECONDS]      (default 600)
# Crashes are written to ./crash-* and reproduce with: .build/debug/peernet-fuzz crash-FILE
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
swift build --product peernet-fuzz >/dev/null
mkdir -p fuzz-corpus
.build/debug/peernet-fuzz --seeds fuzz-corpus
swift build -c release --product peernet-fuzz --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
.build-fuzz/release/peernet-fuzz -max_total_time="$seconds" -max_len=70000 -print_final_stats=1 fuzz-corpus
