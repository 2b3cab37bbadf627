import ArgumentParser
import Dispatch
import Foundation
import SSMAudio
import SSMDecoding
import SSMModels
import SSMPipeline
import SSMTensor

extension OutputFormat: ExpressibleByArgument {}

enum DecoderKind: String, ExpressibleByArgument, CaseIterable {
    case greedy, beam
}

struct Transcribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Transcribe audio files (any format libsndfile reads, any rate ≥ 8 kHz, any channel count).",
        discussion: """
            Each file is decoded, mixed to mono, resampled to 16 kHz and run through the streaming encoder \
            exactly as `stream` would. Results are printed in argument order. A file that cannot be read \
            prints an error line naming it; the others are still transcribed and the exit status is 1.
            """)

    @Option(name: .long, help: "Model name (a folder under Resources/models) or path to a model folder.")
    var model: String?

    @Option(name: .long, help: "Output format: text, tsv, json (JSON Lines), srt or vtt.")
    var format: OutputFormat = .text

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

    @Option(name: .long, help: "BLAS threads per file (1 is fastest for streaming-size matrices).")
    var threads: Int = 1

    @Option(name: .long, help: "Files transcribed in parallel.")
    var jobs: Int = 1

    @Argument(help: "Audio files.")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one audio file") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        BLAS.setThreads(threads)
        let encoder: Encoder
        let choice: DecoderChoice
        do {
            let dir = try ModelLocator.locate(model)
            encoder = try Encoder(directory: dir)
            choice = try decoderChoice(modelDirectory: dir)
        } catch {
            Console.error("\(error)")
            throw ExitCode(2)
        }
        let decoder = FileAudioDecoder(outputSampleRate: 16_000)
        let progress = ProgressLine(total: files.count)
        var results = [Result<(Transcript, Double), Error>?](repeating: nil, count: files.count)
        var nextToPrint = 0
        let lock = NSLock()
        var failed = false
        let format = self.format

        // Prints finished results in argument order as soon as all earlier ones are done.
        func flushInOrder() {
            while nextToPrint < files.count, let r = results[nextToPrint] {
                switch r {
                case .success(let (t, rtf)):
                    Console.out(TranscriptFormatter.render(format, file: files[nextToPrint], transcript: t, rtf: rtf))
                case .failure(let e):
                    failed = true
                    Console.error("\(files[nextToPrint]): \(e)")
                }
                nextToPrint += 1
            }
        }

        let work = { (i: Int) in
            let path = files[i]
            let result = Result { () -> (Transcript, Double) in
                let recognizer = Recognizer(encoder: encoder, decoder: choice)
                let start = DispatchTime.now().uptimeNanoseconds
                try decoder.decode(path: path, blockFrames: 16_384) { block in recognizer.accept(block) }
                let t = recognizer.finish()
                let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                return (t, t.duration > 0 ? wall / t.duration : 0)
            }
            lock.lock()
            results[i] = result
            progress.advance(path)
            flushInOrder()
            lock.unlock()
        }
        if jobs == 1 {
            for i in files.indices { work(i) }
        } else {
            let queue = DispatchQueue(label: "ssmspeech.transcribe", attributes: .concurrent)
            let group = DispatchGroup()
            let slots = DispatchSemaphore(value: jobs)
            for i in files.indices {
                slots.wait()
                queue.async(group: group) { work(i); slots.signal() }
            }
            group.wait()
        }
        if failed { throw ExitCode(1) }
    }

    /// The decoder the flags ask for; the LM is `--lm`, else `lm.arpa` beside the model, else none.
    func decoderChoice(modelDirectory dir: String) throws -> DecoderChoice {
        guard decoder == .beam else { return .greedy }
        guard beam >= 1 else { throw ValidationError("--beam must be at least 1") }
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
