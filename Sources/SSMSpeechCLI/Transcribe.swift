import ArgumentParser
import Dispatch
import Foundation
import SSMAudio
import SSMDecoding
import SSMModels
import SSMPipeline
import SSMTensor

extension OutputFormat: ExpressibleByArgument {}

struct Transcribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Transcribe audio files (any format libsndfile reads, any rate ≥ 8 kHz, any channel count).",
        discussion: """
            Each file is decoded, mixed to mono, resampled to 16 kHz and run through the streaming encoder \
            exactly as `stream` would. Results are printed in argument order. A file that cannot be read \
            prints an error line naming it; the others are still transcribed and the exit status is 1.
            """)

    @OptionGroup var options: ModelOptions

    @Option(name: .long, help: "Output format: text, tsv, json (JSON Lines), srt or vtt.")
    var format: OutputFormat = .text

    @Option(name: .long, help: "Files transcribed in parallel.")
    var jobs: Int = 1

    @Argument(help: "Audio files.")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one audio file") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let (encoder, choice, _) = try options.load()
        let endpoint = options.endpoint
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
                    // Audio errors already name the file; others get it prefixed.
                    let message = "\(e)"
                    Console.error(message.contains(files[nextToPrint]) ? message : "\(files[nextToPrint]): \(message)")
                }
                nextToPrint += 1
            }
        }

        let work = { (i: Int) in
            let path = files[i]
            let result = Result { () -> (Transcript, Double) in
                let start = DispatchTime.now().uptimeNanoseconds
                let t = try RecognitionGraph.transcribe(source: FileAudioSource(path: path), encoder: encoder,
                                                        decoder: choice, endpoint: endpoint)
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
}
