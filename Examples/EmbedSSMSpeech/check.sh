#!/usr/bin/env bash
# Builds the embedding example against this checkout, runs it from the repository root, and checks
# that (1) its file transcript is exactly the command line's, (2) streaming the same file in 20 ms
# pieces of 48 kHz audio ends with the same text, (3) it synthesized a sentence.
# Needs the command line built first (`swift build -c release --product ssmspeech`, or set SSMSPEECH_BIN).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
log="${TMPDIR:-/tmp}/embed-ssmspeech-build.log"
swift build --package-path Examples/EmbedSSMSpeech > "$log" 2>&1 || { cat "$log"; echo "FAIL: the example does not build"; exit 1; }
grep -E "warning: |Build complete" "$log" || true
bin="$(swift build --package-path Examples/EmbedSSMSpeech --show-bin-path)/embed-ssmspeech"
out="$("$bin")"
cli="$("${SSMSPEECH_BIN:-.build/release/ssmspeech}" transcribe --model Resources/models/mamba-30ms Resources/samples/sample.wav)"
echo "command line: $cli"
echo "$out" | grep -v '^partial:'
whole="$(echo "$out" | sed -n 1p)"
streamed="$(echo "$out" | grep -v -E '^(partial|final):' | sed -n 2p)"
synth="$(echo "$out" | tail -1)"
fail=0
[ "$whole" = "$cli" ] || { echo "FAIL: transcribe(contentsOf:) '$whole' != command line '$cli'"; fail=1; }
[ "$streamed" = "$cli" ] || { echo "FAIL: 48 kHz stream '$streamed' != command line '$cli'"; fail=1; }
[[ "$synth" =~ ^synthesized\ [1-9][0-9]+\ samples ]] || { echo "FAIL: no synthesis ('$synth')"; fail=1; }
[ "$(echo "$out" | grep -c '^partial:')" -gt 0 ] || { echo "FAIL: no partial results while streaming"; fail=1; }
[ $fail = 0 ] && echo "example: OK (imports only SSMSpeech; file, 48 kHz stream and CLI agree; speech synthesized)"
exit $fail
