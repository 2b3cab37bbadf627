import Dispatch
import Foundation
import SSMPipeline
import SSMSpeech
import SSMTestSupport
import XCTest

/// The synthesis graph streams: audio of the first line leaves before the second line exists, and what
/// comes out equals the synthesizer run directly.
final class SynthesisGraphTests: XCTestCase {
    /// Emits its first text, then waits until the sink has seen audio before emitting the second.
    final class GatedSource: PipelineSource {
        let texts: [String]
        let gate = DispatchSemaphore(value: 0)
        var waitedOK = false
        init(_ texts: [String]) { self.texts = texts }
        func run(emit: (String, Double) -> Bool) throws {
            guard emit(texts[0], 0) else { return }
            waitedOK = gate.wait(timeout: .now() + 30) == .success
            for t in texts.dropFirst() { guard emit(t, 0) else { return } }
        }
        func stop() {}
    }

    func testAudioStartsBeforeTheTextEnds() throws {
        let tts = try SpeechSynthesizer(voice: Fixtures.path("tts_tiny"))
        let texts = ["A first sentence, spoken at once.", "Then a second one."]
        let source = GatedSource(texts)
        var chunks: [[Float]] = []
        let graph = SynthesisGraph.make(source: source, synthesizer: tts) { _, chunk in
            if chunks.isEmpty { source.gate.signal() }
            chunks.append(chunk)
        }
        try graph.run()
        XCTAssertTrue(source.waitedOK, "no audio came out before the second line was given")
        XCTAssertGreaterThan(chunks.count, 2)
        let expected = try texts.flatMap { try tts.synthesize($0) }
        XCTAssertEqual(Array(chunks.joined()), expected)
    }
}
