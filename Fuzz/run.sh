#!/usr/bin/env bash
# Builds a libFuzzer target (with AddressSanitizer) and runs it for a bounded time.
#
#   Fuzz/run.sh wav|model|text|config [SECONDS=60]
#
# Seed corpus: Fuzz/corpus/<target>/ (committed). New interesting inputs go to
# .build-fuzz/corpus-<target>/ (not committed). A crash leaves crash-* in .build-fuzz/ and exits
# non-zero: add the input to the seed corpus (the ordinary build's `fuzz-<target> Fuzz/corpus/<target>`
# replays it in the test suite) and fix the bug.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: Fuzz/run.sh wav|model|text|config [SECONDS]}"
seconds="${2:-60}"
case "$target" in wav|model|text|config) ;; *) echo "unknown target $target (wav, model, text, config)" >&2; exit 2 ;; esac
swift build -c release --build-path .build-fuzz --product "fuzz-$target" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | grep -E "error|warning: unre|Compiling fuzz|Build" || true
bin="$(swift build -c release --build-path .build-fuzz --show-bin-path)/fuzz-$target"
mkdir -p ".build-fuzz/corpus-$target"
cd .build-fuzz
export LSAN_OPTIONS="suppressions=$(pwd)/../Fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Swift's own crash handler (the backtracer) would take a trap first and then trip AddressSanitizer
# reading memory for its backtrace ("unknown-crash in memserver_read"), hiding the finding; off, a trap
# reaches libFuzzer, which prints the Swift runtime failure with its stack and saves the input.
export SWIFT_BACKTRACE=enable=no
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  "corpus-$target" "../Fuzz/corpus/$target"
