import SSMDecoding
import SSMTensor
import XCTest

final class GreedyTests: XCTestCase {
    func testStreamingGreedyEqualsBatch() {
        var logits = Matrix(rows: 50, cols: 5)
        for t in 0..<50 { logits[t, (t / 3) % 5] = 4 }
        let batch = CTCGreedyDecoder.decode(logits)
        var d = CTCGreedyDecoder()
        logits.data.withUnsafeBufferPointer { p in
            for t in 0..<50 { d.accept(UnsafeBufferPointer(rebasing: p[(t * 5)..<((t + 1) * 5)])) }
        }
        XCTAssertEqual(d.tokens, batch)
        XCTAssertFalse(batch.isEmpty)
    }
}
