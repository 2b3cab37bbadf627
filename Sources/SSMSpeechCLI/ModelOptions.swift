import ArgumentParser
import Foundation
import SSMDecoding
import SSMModels
import SSMPipeline
import SSMTensor

enum DecoderKind: String, ExpressibleByArgument, CaseIterable {
    case greedy, beam
}

/// Model and decoding options shared by `transcribe`, `stream` and `bench`.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model name (a folder under Resources/models) or path to a model folder.")
    var model: String?

    @Option(name: .long, help: "CTC decoding: greedy, or beam (prefix beam search, with the model's lm.arpa or --lm if present).")
    var decoder: DecoderKind = .beam

    @Option(name: .long, help: "Word n-gram language model in ARPA format for the beam search (default: lm.arpa in the model folder).")
    var lm: String?

    @Option(name: .long, help: "Beam width.")
    var beam: Int = 8

    @Option(name: .long, help: "Language-model weight (shallow fusion).")
    var lmWeight: Float = 0.5

    @Option(name: .long, help: "Word insertion bonus.")
    var wordBonus: Float = 1.0

    @Option(name: .long, help: "BLAS threads (1 is fastest for streaming-size matrices).")
    var threads: Int = 1

    @Option(name: .long, help: "Seconds of trailing silence that end an utterance (0: never; one utterance per stream).")
    var endpointSeconds: Double = 0.8

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard beam >= 1 else { throw ValidationError("--beam must be at least 1") }
        guard endpointSeconds >= 0 else { throw ValidationError("--endpoint-seconds must not be negative") }
    }

    var endpoint: EndpointConfig { EndpointConfig(trailingSilence: endpointSeconds) }

    /// Loads the model and the decoder; prints one `error:` line and exits 2 if that fails.
    func load() throws -> (encoder: Encoder, decoder: DecoderChoice, directory: String) {
        BLAS.setThreads(threads)
        do {
            let dir = try ModelLocator.locate(model)
            let encoder = try Encoder(directory: dir)
            return (encoder, try decoderChoice(modelDirectory: dir), dir)
        } catch {
            Console.error("\(error)")
            throw ExitCode(2)
        }
    }

    /// The decoder the flags ask for; the LM is `--lm`, else `lm.arpa` beside the model, else none.
    func decoderChoice(modelDirectory dir: String) throws -> DecoderChoice {
        guard decoder == .beam else { return .greedy }
        let bundled = (dir as NSString).appendingPathComponent("lm.arpa")
        let path = lm ?? (FileManager.default.fileExists(atPath: bundled) ? bundled : nil)
        let model = try path.map { try NGramLM(contentsOf: $0) }
        var options = CTCBeamSearchOptions()
        options.beamWidth = beam
        options.alpha = lmWeight
        options.beta = model == nil ? 0 : wordBonus
        return .beam(lm: model, options: options)
    }
}
