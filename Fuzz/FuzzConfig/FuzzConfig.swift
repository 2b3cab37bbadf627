// libFuzzer target: the loaders of the numbers and sizes a model or voice is configured with — the
// encoder's config.json (EncoderConfig), a model folder's decoding.json (DecoderSettings), a voice's
// config.json (TTSConfig) and ARPA language models (NGramLM, then a short beam search with it). The
// first byte of an input picks the loader ('e', 'd', 'v', 'a'; any other byte: its value mod 4), the
// rest is the file. Inputs over 64 KB are skipped: then a count that some loader reserves memory for
// before checking it (an ARPA `ngram 1=999999999999`, a layer count of 1e12) exceeds run.sh's 2 GB
// RSS limit and is a finding, not an out-of-memory of the fuzzer itself.
// Fuzz: Fuzz/run.sh config SECONDS
import Foundation
import FuzzSupport
import SSMDecoding
import SSMModels
import SSMSynthesis

private let maxInput = 64 * 1024
private let vocabulary = ["<blank>", " ", "a", "b", "c", "d", "e", "s", "t", "'"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count >= 1, count <= maxInput else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let body = Data(bytes[1...])
    switch bytes[0] {
    case UInt8(ascii: "e"): encoderConfig(body)
    case UInt8(ascii: "d"): decodingSettings(body)
    case UInt8(ascii: "v"): voiceConfig(body)
    case UInt8(ascii: "a"): languageModel(body)
    default:
        switch bytes[0] % 4 {
        case 0: encoderConfig(body)
        case 1: decodingSettings(body)
        case 2: voiceConfig(body)
        default: languageModel(body)
        }
    }
    return 0
}

/// A config that loads is within `SizeLimits`, so what a model builds from it is bounded.
func encoderConfig(_ data: Data) {
    guard let c = try? EncoderConfig.parse(data, path: "fuzz/config.json") else { return }
    precondition(SizeLimits.width.contains(c.dModel) && SizeLimits.layers.contains(c.layers), "validated sizes")
    precondition(c.strides.count == 2 && c.subsampling >= 1, "validated strides")
}

func decodingSettings(_ data: Data) {
    guard let s = try? DecoderSettings.parse(data, path: "fuzz/decoding.json") else { return }
    precondition(s.problem() == nil, "validated settings")
    _ = s.lmPath(relativeTo: "/models/m")
    var o = CTCBeamSearchOptions()
    o.beamWidth = s.beam ?? o.beamWidth
    o.alpha = s.lmWeight ?? o.alpha
    o.beta = s.wordBonus ?? o.beta
    o.unknownWordLogProb = s.unknownWordLog10.map { $0 * Float(M_LN10) }
    precondition(o.problem() == nil, "settings that load make valid beam options")
}

func voiceConfig(_ data: Data) {
    guard let c = try? TTSConfig.parse(data, path: "fuzz/voice/config.json") else { return }
    precondition(TTSConfig.sampleRates.contains(c.audio.sampleRate), "validated sample rate")
    precondition(c.audio.hop >= 1 && c.audio.nFFT % c.audio.hop == 0, "validated STFT")
}

/// An LM that loads answers every query, and a beam search fused with it never traps, whatever its
/// probabilities (−inf included).
func languageModel(_ data: Data) {
    guard let lm = try? NGramLM(data: data, path: "fuzz/lm.arpa") else { return }
    precondition(lm.order >= 1 && lm.order <= 5 && lm.vocabularySize >= 3, "order and the added <unk>, <s>, </s>")
    let words = Array(lm.words.prefix(16))
    // (a word that is not valid UTF-8 is kept under its bytes, so its repaired spelling has no id)
    for w in words { precondition(lm.wordId(w) != nil || w.contains("\u{FFFD}"), "every word has an id") }
    _ = lm.sentenceLogProb(words)
    _ = lm.sentenceLogProb(["a", "b", "zzz"] + words.reversed())
    var o = CTCBeamSearchOptions(beamWidth: 4)
    o.partialMargin = 3
    var d = CTCPrefixBeamSearch(vocabulary: vocabulary, lm: lm, options: o)
    var x: UInt32 = UInt32(truncatingIfNeeded: data.count) &* 2_654_435_761
    for _ in 0..<12 {
        let frame = vocabulary.indices.map { _ -> Float in
            x = x &* 1_664_525 &+ 1_013_904_223
            return Float(x >> 24) / 32 - 4
        }
        d.accept(frame)
        _ = d.partialTokens
    }
    for t in d.finalize() { precondition(vocabulary.indices.contains(t.token), "a token of the vocabulary") }
}

#if FUZZING
@_cdecl("fuzz_config_main")
func fuzzerEntry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzConfig($0, $1) }
}
#else
@main struct Runner {
    static func main() throws {
        print("ran \(try replayCorpus(Array(CommandLine.arguments.dropFirst())) { fuzzConfig($0, $1) }) inputs")
    }
}
#endif
