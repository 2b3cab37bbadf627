#!/usr/bin/env bash
# The Swift test suite under AddressSanitizer and ThreadSanitizer.
#
#   Scripts/sanitizers.sh [asan|tsan|all]        (default: all)
#
#   asan: `swift build --build-tests --sanitize=address` in .build-asan, then `swift test` over the whole
#         suite and the fuzz seed corpus replay (SSMSANITIZE_ASAN_FILTER=regex narrows the tests, e.g.
#         'SSMAudioTests|SSMModelsTests|SSMSpeechCLITests', and skips the replay).
#   tsan: `--sanitize=thread` in .build-tsan, the tests with threads: the Dispatch pipeline
#         (SSMPipelineTests), the front door's shared recognizer and background synthesis (SSMSpeechTests)
#         and the command line's stdin, signal and parallel-file paths (SSMSpeechCLITests)
#         (SSMSANITIZE_TSAN_FILTER overrides).
#
# Every process writes its reports to a log file (ASAN_OPTIONS/TSAN_OPTIONS log_path), the test runner
# and the `ssmspeech` binaries the CLI tests start alike, so a report in a child process counts even when
# the test that ran it passes. Prints a summary; exits non-zero on any report or test failure.
# RecognitionPipelineTests.testLongStreamMemoryIsBounded is skipped (it bounds its own RSS growth to
# 2 MB, which ASan's quarantine alone exceeds); BadInputCLITests drops its RSS bound when it sees the
# sanitizer options. LeakSanitizer is off: the Swift runtime's metadata caches and Foundation's singletons live until exit.
# The C libraries (libsndfile, libsoxr, FFTW, OpenBLAS) are not instrumented; their memory is not checked.
#
# Duration here (2 cores shared with a training run, nice'd, 2026-11-23): asan 9 min 45 s (build 271 s,
# whole suite of 157 tests 314 s); tsan: build 195 s, the 61 pipeline tests ≈ 5 min (a run that hung on
# the SIGINT test, before it was skipped, took 18 min). No sanitizer report in either. The sanitized
# `ssmspeech` is several times slower, so the CLI tests' deadlines (120–300 s) are generous on purpose.
set -uo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
case "$what" in asan|tsan|all) ;; *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;; esac
nice="nice -n ${SSMSANITIZE_NICE:-15}"
logs="$(pwd)/.build-sanitizer-logs"
summary=()
status=0

run_one() { # name sanitizer build-path filter
  local name="$1" sanitizer="$2" path="$3" filter="$4"
  local dir="$logs/$name"
  rm -rf "$dir"; mkdir -p "$dir"
  local t0=$SECONDS
  echo "[$name] building with --sanitize=$sanitizer in $path" >&2
  if ! $nice swift build --build-tests --sanitize="$sanitizer" --build-path "$path" >"$dir/build.log" 2>&1; then
    grep -E "error:" "$dir/build.log" | head -20 >&2
    summary+=("$name: BUILD FAILED (see $dir/build.log)"); status=1; return
  fi
  local built=$((SECONDS - t0))
  echo "[$name] testing (${filter:-whole suite})" >&2
  local args=(--skip-build --sanitize="$sanitizer" --build-path "$path" --disable-swift-testing)
  [ -n "$filter" ] && args+=(--filter "$filter")
  # Measures its own RSS growth to 2 MB: meaningless with ASan's quarantine and shadow memory.
  args+=(--skip 'RecognitionPipelineTests.testLongStreamMemoryIsBounded')
  # Under TSan a SIGINT/SIGTERM for `stream` is never handled: TSan defers signals until the thread
  # that took it enters an intercepted call, and the main thread sits in libdispatch's raw futex
  # (DispatchGroup.wait in Pipeline.wait), so the process waits on its open stdin for ever (observed
  # with gdb, 2026-11-23). Not seen without TSan; the ordinary suite runs these tests.
  [ "$sanitizer" = thread ] && args+=(--skip 'testStreamInterruptFlushesFinal|testStdinSIGTERMMidUtteranceFlushesFinal|testSignalsWhileTheModelLoads|testSynthesizeLeavesNoFileWhenItFails')
  ASAN_OPTIONS="detect_leaks=0:log_path=$dir/report:${ASAN_OPTIONS:-}" \
  TSAN_OPTIONS="log_path=$dir/report:${TSAN_OPTIONS:-}" \
    $nice swift test "${args[@]}" >"$dir/test.log" 2>&1
  local rc=$?
  if [ "$sanitizer" = address ] && [ -z "$filter" ]; then # the fuzz seed corpus, as .ci/test replays it
    local bin; bin="$(swift build --build-path "$path" --show-bin-path)"
    for target in wav model; do
      ASAN_OPTIONS="detect_leaks=0:log_path=$dir/report:${ASAN_OPTIONS:-}" \
        $nice "$bin/fuzz-$target" "Fuzz/corpus/$target" >>"$dir/test.log" 2>&1 || rc=1
    done
  fi
  local tested=$((SECONDS - t0 - built))
  local reports; reports=$(find "$dir" -name 'report.*' -size +0 | wc -l)
  local executed; executed=$(grep -E "^\s*Executed [0-9]+ tests" "$dir/test.log" | tail -1 | sed -E 's/^\s*//')
  grep -E "error: |failed \(" "$dir/test.log" | head -20 >&2
  for f in $(find "$dir" -name 'report.*' -size +0 | head -5); do
    echo "---- $f" >&2; grep -E "ERROR|WARNING|SUMMARY|^    #[0-9] " "$f" | head -25 >&2
  done
  summary+=("$name: ${executed:-no test summary (rc $rc)}; sanitizer reports: $reports; build ${built}s, tests ${tested}s; logs in $dir")
  if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then status=1; fi
}

if [ "$what" = asan ] || [ "$what" = all ]; then
  run_one asan address .build-asan "${SSMSANITIZE_ASAN_FILTER:-}"
fi
if [ "$what" = tsan ] || [ "$what" = all ]; then
  run_one tsan thread .build-tsan "${SSMSANITIZE_TSAN_FILTER:-SSMPipelineTests|SSMSpeechTests|SSMSpeechCLITests}"
fi
echo "== sanitizer summary" >&2
for line in "${summary[@]}"; do echo "  $line" >&2; done
[ "$status" -eq 0 ] && echo "  OK: no reports" >&2 || echo "  FAILED" >&2
exit "$status"
