#!/usr/bin/env bash
# Builds the embedding example against this checkout, runs it from the repository root, and checks
# that (1) its file transcript is exactly the command line's, (2) streaming a 48 kHz copy of the file in
# 20 ms pieces ends with the text of that whole 48 kHz buffer (not necessarily the 16 kHz file's: a
# 16 → 48 → 16 kHz round trip moves the features a little, and a word can change), (3) it synthesized
# a sentence.
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
whole48="$(echo "$out" | sed -n 's/^whole 48 kHz: //p')"
synth="$(echo "$out" | tail -1)"
fail=0
[ "$whole" = "$cli" ] || { echo "FAIL: transcribe(contentsOf:) '$whole' != command line '$cli'"; fail=1; }
[ "$streamed" = "$whole48" ] || { echo "FAIL: 48 kHz stream '$streamed' != whole 48 kHz buffer '$whole48'"; fail=1; }
[ -n "$streamed" ] || { echo "FAIL: the stream gave no text"; fail=1; }
[[ "$synth" =~ ^synthesized\ [1-9][0-9]+\ samples ]] || { echo "FAIL: no synthesis ('$synth')"; fail=1; }
[ "$(echo "$out" | grep -c '^partial:')" -gt 0 ] || { echo "FAIL: no partial results while streaming"; fail=1; }
[ $fail = 0 ] && echo "example: OK (imports only SSMSpeech; file and CLI agree, 48 kHz stream and whole buffer agree; speech synthesized)"
exit $fail
