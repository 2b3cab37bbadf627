// LatencyBench.swift: the measurements behind `ssmspeech bench` (definitions: Docs/INTERFACE.md).

import Dispatch
import Foundation
import Histogram
import SSMPipeline
import SSMSpeech
#if canImport(Glibc)
import Glibc
#endif

/// The figures `bench` reports (definitions and names: Docs/INTERFACE.md). Times in milliseconds.
struct BenchReport: Codable, Sendable {
    var model: String
    var audio: String
    var audio_seconds: Double
    var chunk_size_ms: Int
    var realtime: Bool
    var threads: Int
    /// Compute wall time of the whole pipeline ÷ audio duration.
    var rtf: Double
    var chunk_ms_p50: Double
    var chunk_ms_p90: Double
    var chunk_ms_p99: Double
    var chunk_ms_max: Double
    /// From the first sample of the first spoken word entering the pipeline to the first non-empty partial.
    var first_partial_ms: Double?
    /// Per reference word: from its last sample being fed to its first appearance (final spelling) in a partial.
    var emission_ms_p50: Double?
    var emission_ms_p90: Double?
    /// Reference words recognised exactly (the emission figures are over these).
    var emission_words: Int
    /// From end of input to the final result.
    var final_ms: Double
    /// Frame length + output frame + chunk: audio the model must see before it can emit a sample.
    var algorithmic_latency_ms: Double
    var peak_rss_mb: Double
    var params: Int
    /// Per-frame weights: "int8" or "float32".
    var precision: String
    /// The decoder, e.g. "greedy" or "beam 32, LM weight 0.8, word bonus 3.0, unknown word log10 -10.0".
    var decoder: String
    /// The recognition graph's layout: "fused" or "staged" (`RecognitionGraph.Layout`).
    var graph: String
    var text: String
}

/// An input `bench` cannot measure.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    static func noAudio(_ path: String) -> BenchError {
        BenchError(description: "\(path): the audio has no samples: nothing to measure (rtf and latencies need at least one sample)")
    }
}

/// Runs the recognition graph over an audio file, chunk by chunk, and measures latency.
///
/// The file is read block by block as the chunks go (`PacedFileAudioSource`), never held whole, and
/// what is kept per chunk is a few numbers (not the words so far), so memory does not grow with the
/// length of the audio beyond the final text.
///
/// Without `realtime`, chunks go in lock-step (the next chunk enters when the previous one's partial
/// is published), so each chunk's latency is pure compute; first-partial and emission latencies are
/// then computed on the audio clock, as if the chunks had arrived at real-time pace (chunk k arrives
/// when its last sample is recorded; its result is published its measured compute latency later). With
/// `realtime`, chunks are paced by the wall clock and all times are wall-clock times.
///
/// - Throws: `BenchError.noAudio` for a file with no samples (an rtf would be 0/0), and the file's
///   `AudioError`s.
enum LatencyBench {
    static func run(recognizer: SpeechRecognizer, path: String, alignment: [WordTiming]?,
                    chunkMs: Int, realtime: Bool, audioName: String, threads: Int,
                    layout: RecognitionGraph.Layout = .fused) throws -> BenchReport {
        let source = try PacedFileAudioSource(path: path, chunkSamples: { max(1, $0 * chunkMs / 1000) },
                                              pacing: realtime ? .realtime : .lockstep)
        struct Record { var arrival: UInt64; var publish: UInt64; var audioEnd: Double; var partialNonEmpty: Bool }
        var records: [Record] = []
        var finalWords: [String] = []
        // firstShown[j][w]: the first chunk whose published words (finals so far, then the partial) had
        // w at position j. Positions already final before a chunk keep their word, so each chunk looks
        // only at the positions from the first word it may have changed.
        var firstShown: [[String: Int]] = []
        var endRecord: Record?
        let graph = RecognitionGraph.make(source: source, recognizer: recognizer, capacity: 4, layout: layout) { info, update in
            let now = DispatchTime.now().uptimeNanoseconds
            let stable = finalWords.count
            finalWords += update.finals.flatMap { $0.words.map(\.word) }
            let r = Record(arrival: info.arrivalNanos, publish: now, audioEnd: info.audioEnd,
                           partialNonEmpty: !(update.partial?.text.isEmpty ?? true))
            if info.isEndOfStream { endRecord = r; return }
            let partialWords = update.partial?.words.map(\.word) ?? []
            let k = records.count
            for j in stable..<(finalWords.count + partialWords.count) {
                let word = j < finalWords.count ? finalWords[j] : partialWords[j - finalWords.count]
                if j == firstShown.count { firstShown.append([:]) }
                if firstShown[j][word] == nil { firstShown[j][word] = k }
            }
            records.append(r)
            source.signal()
        }
        try graph.run()
        guard let endRecord else { throw PipelineError.cancelled }
        guard source.samplesEmitted > 0 else { throw BenchError.noAudio(path) }

        var hist = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var computeNs: UInt64 = 0
        for r in records {
            _ = hist.record((r.publish - r.arrival) / 1000) // µs
            computeNs += r.publish - r.arrival
        }
        computeNs += endRecord.publish - endRecord.arrival
        let duration = Double(source.samplesEmitted) / Double(source.sampleRate)
        // Clocks in seconds from the start of the audio.
        func arrival(_ r: Record) -> Double {
            realtime ? Double(r.arrival &- source.startNanos) / 1e9 : r.audioEnd
        }
        func publish(_ r: Record) -> Double {
            realtime ? Double(r.publish &- source.startNanos) / 1e9 : r.audioEnd + Double(r.publish - r.arrival) / 1e9
        }
        /// The first chunk whose audio reaches `t` (the last chunk if none does); chunk ends only grow.
        func chunk(containing t: Double) -> Int {
            var lo = 0, hi = records.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if records[mid].audioEnd >= t { hi = mid } else { lo = mid + 1 }
            }
            return lo < records.count ? lo : records.count - 1
        }
        var firstPartial: Double?
        var emissions: [Double] = []
        if let alignment, let first = alignment.first, !records.isEmpty {
            if let k = records.firstIndex(where: \.partialNonEmpty) {
                firstPartial = (publish(records[k]) - arrival(records[chunk(containing: first.start)])) * 1000
            }
            // Only words recognised correctly can be said to appear: exact matches of the alignment.
            for (i, j) in alignWords(reference: alignment.map(\.word), hypothesis: finalWords)
            where alignment[i].word == finalWords[j] {
                // Hypothesis word j first shows with its final spelling at chunk k (else: only in the final result).
                let fed = arrival(records[chunk(containing: alignment[i].end)])
                let shown = j < firstShown.count ? firstShown[j][finalWords[j]].map { records[$0] } ?? endRecord : endRecord
                emissions.append((publish(shown) - fed) * 1000)
            }
        }
        emissions.sort()
        func pct(_ xs: [Double], _ p: Double) -> Double? { // nearest rank
            xs.isEmpty ? nil : xs[max(0, min(xs.count - 1, Int((p / 100 * Double(xs.count)).rounded(.up)) - 1))]
        }
        return BenchReport(
            model: recognizer.modelName, audio: audioName, audio_seconds: duration, chunk_size_ms: chunkMs, realtime: realtime,
            threads: threads, rtf: Double(computeNs) / 1e9 / duration,
            chunk_ms_p50: Double(hist.valueAtPercentile(50)) / 1000, chunk_ms_p90: Double(hist.valueAtPercentile(90)) / 1000,
            chunk_ms_p99: Double(hist.valueAtPercentile(99)) / 1000, chunk_ms_max: Double(hist.max) / 1000,
            first_partial_ms: firstPartial, emission_ms_p50: pct(emissions, 50), emission_ms_p90: pct(emissions, 90),
            emission_words: emissions.count, final_ms: Double(endRecord.publish - endRecord.arrival) / 1e6,
            algorithmic_latency_ms: Double(recognizer.algorithmicLatencyMilliseconds + chunkMs), peak_rss_mb: peakResidentMegabytes(),
            params: recognizer.parameterCount, precision: recognizer.precision.rawValue, decoder: recognizer.decoder.summary,
            graph: layout.rawValue, text: finalWords.joined(separator: " "))
    }

    /// Pairs (reference index, hypothesis index) of a minimum-edit-distance alignment: matches and
    /// substitutions (insertions and deletions have no partner).
    static func alignWords(reference r: [String], hypothesis h: [String]) -> [(Int, Int)] {
        let n = r.count, m = h.count
        var d = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in 0...n { d[i][0] = i }
        for j in 0...m { d[0][j] = j }
        if n > 0 && m > 0 {
            for i in 1...n { for j in 1...m {
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (r[i - 1] == h[j - 1] ? 0 : 1))
            } }
        }
        var pairs: [(Int, Int)] = []
        var i = n, j = m
        while i > 0 && j > 0 {
            if d[i][j] == d[i - 1][j - 1] + (r[i - 1] == h[j - 1] ? 0 : 1) { pairs.append((i - 1, j - 1)); i -= 1; j -= 1 }
            else if d[i][j] == d[i - 1][j] + 1 { i -= 1 } else { j -= 1 }
        }
        return pairs.reversed()
    }

    /// Reads a `word<TAB>start<TAB>end` alignment (seconds).
    static func readAlignment(path: String) throws -> [WordTiming] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw AudioError.readFailed(path: path, reason: "cannot read alignment")
        }
        return try text.split(whereSeparator: \.isNewline).enumerated().map { n, line in
            let f = line.split(separator: "\t")
            guard f.count == 3, let s = Double(f[1]), let e = Double(f[2]), e >= s else {
                throw AudioError.readFailed(path: path, reason: "line \(n + 1) is not 'word<TAB>start<TAB>end'")
            }
            return WordTiming(word: String(f[0]), start: s, end: e)
        }
    }

    /// Peak resident set size of this process so far, in MiB.
    static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
    }
}
