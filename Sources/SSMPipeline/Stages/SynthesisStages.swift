// SynthesisStages.swift: the nodes of the synthesis graph (text → token ids → samples).

import Foundation
import SSMSynthesis

/// Text to speak: a fixed list, or lines read from a file descriptor (stdin) as they arrive, so a
/// producer can feed sentences one at a time. Empty lines are skipped.
public final class TextSource: PipelineSource {
    enum Input { case texts([String]), lines(FileHandle) }
    let input: Input
    private let stopFlag = StopFlag()

    public init(texts: [String]) { input = .texts(texts) }
    public init(lines handle: FileHandle = .standardInput) { input = .lines(handle) }

    public func run(emit: (String, Double) -> Bool) throws {
        switch input {
        case .texts(let texts):
            for t in texts where !stopFlag.isSet {
                guard emit(t, 0) else { return }
            }
        case .lines(let handle):
            // One line at a time straight from the descriptor, so nothing waits for a buffer to fill.
            var pending = Data()
            while !stopFlag.isSet {
                let chunk = handle.availableData
                if chunk.isEmpty { break }  // EOF
                pending.append(chunk)
                while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    if !line.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { guard emit(line, 0) else { return } }
                }
            }
            let rest = String(decoding: pending, as: UTF8.self)
            if !rest.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { _ = emit(rest, 0) }
        }
    }

    public func stop() { stopFlag.set() }
}

/// Normalisation, clauses, espeak-ng phonemes, token ids: one text in, its utterances out.
public final class FrontEndStage: PipelineStage {
    let frontEnd: TextFrontEnd
    let maxWords: Int
    public init(frontEnd: TextFrontEnd, maxWords: Int = 25) { self.frontEnd = frontEnd; self.maxWords = maxWords }
    public func process(_ text: String) throws -> [[Int32]] { try frontEnd.utterances(text, maxWords: maxWords) }
    public func flush() throws -> [[Int32]] { [] }
}

/// The acoustic model's recurrent decoder and the vocoder, frame by frame: each utterance's samples leave
/// in chunks of `chunkFrames` frames (hop samples each) as soon as they are final.
public final class SpeechStage: PipelineExpandingStage {
    let synthesizer: Synthesizer
    let session: Synthesizer.Session
    let lengthScale: Float
    let chunkSamples: Int
    private var buffer: [Float] = []

    public init(synthesizer: Synthesizer, lengthScale: Float = 1, chunkFrames: Int = 4) {
        self.synthesizer = synthesizer
        session = synthesizer.makeSession()
        self.lengthScale = lengthScale
        chunkSamples = max(1, chunkFrames) * synthesizer.config.audio.hop
        buffer.reserveCapacity(chunkSamples)
    }

    public func process(_ utterances: [[Int32]], emit: ([Float]) -> Bool) throws {
        for tokens in utterances {
            var open = true
            try synthesizer.speak(tokens: tokens, session: session, lengthScale: lengthScale) { samples in
                guard open else { return }
                buffer.append(contentsOf: samples)
                if buffer.count >= chunkSamples {
                    open = emit(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            guard open else { return }
            // end of an utterance: pass on what is left, so a line's audio is complete before the next
            if !buffer.isEmpty { guard emit(buffer) else { return }; buffer.removeAll(keepingCapacity: true) }
        }
    }

    public func flush(emit: ([Float]) -> Bool) throws {
        if !buffer.isEmpty { _ = emit(buffer); buffer.removeAll() }
    }
}
