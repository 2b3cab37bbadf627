// libFuzzer target: the synthesizer's text front end — normalisation (numbers, money, times, …), clause
// splitting, espeak-ng grapheme-to-phoneme, token lookup and utterance splitting — on arbitrary bytes
// (decoded as UTF-8 with replacement characters, as the CLI reads them).
// Fuzz: Fuzz/run.sh text SECONDS
import Foundation
import FuzzSupport
import SSMSynthesis

/// The vocabulary of the tiny fixture voice is enough: unknown phonemes are dropped, which is part of
/// what is being exercised.
private let frontEnd: TextFrontEnd = {
    let vocab = ["_", "^", "$", " ", ",", ".", "?", "!"] + "abdefhijklmnoprstuvwzæðŋɐɑɔəɚɛɜɡɪɹʃʊʌʒʔˈˌːθᵻ".map { String($0) }
    return try! TextFrontEnd(vocab: vocab, phonemizer: try! EspeakPhonemizer(voice: "en-us"))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzText(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    let expanded = TextNormalizer.expand(text)
    _ = TextFrontEnd.clauses(expanded)
    if let utterances = try? frontEnd.utterances(text) {
        for u in utterances { precondition(u.count >= 2, "an utterance has at least ^ and $") }
    }
    return 0
}

#if FUZZING
@_cdecl("fuzz_text_main")
func fuzzerEntry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzText($0, $1) }
}
#else
@main struct Runner {
    static func main() throws {
        print("ran \(try replayCorpus(Array(CommandLine.arguments.dropFirst())) { fuzzText($0, $1) }) inputs")
    }
}
#endif
