import Foundation
import SSMDecoding
import SSMLayers
import SSMModels
import SSMTensor
import SSMTestSupport
import XCTest

final class EncoderTests: XCTestCase {
    static let vocab = ["<blank>", " ", "a", "b", "c", "d"]

    func testStreamingStepMatchesForwardForEveryMixer() throws {
        let configs = [
            EncoderConfig(mixer: .s4d, dModel: 24, layers: 2, norm: .layernorm, ffnMult: 2, s4d: .init(dState: 16), vocab: Self.vocab),
            EncoderConfig(mixer: .mamba, dModel: 24, layers: 2, norm: .rmsnorm, ffnMult: 0,
                          mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 2), vocab: Self.vocab),
            EncoderConfig(mixer: .s4d, dModel: 24, layers: 1, norm: .rmsnorm, ffnMult: 0, subsampleStrides: [3, 1],
                          s4d: .init(dState: 16), vocab: Self.vocab),
            EncoderConfig(mixer: .mamba2, dModel: 24, layers: 2, norm: .rmsnorm, ffnMult: 2, subsampleStrides: [3, 1],
                          mamba2: .init(dState: 8, dConv: 4, expand: 2, headdim: 12, ngroups: 2), vocab: Self.vocab),
            EncoderConfig(mixer: .s5, dModel: 24, layers: 2, norm: .layernorm, ffnMult: 2, s5: .init(dState: 16), vocab: Self.vocab),
            // Blocks 0, 2 Mamba, 1, 3 attention over 16 frames (the 251 output frames run far past the window).
            EncoderConfig(mixer: .hybrid, dModel: 24, layers: 4, norm: .rmsnorm, ffnMult: 2,
                          mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 2),
                          hybrid: .init(attnEvery: 2, heads: 3, window: 16), vocab: Self.vocab),
            // Online CMN: 1001 frames run through its cumulative part (P + t + 1 ≤ W) and far into the window.
            EncoderConfig(mixer: .mamba, dModel: 24, layers: 2, norm: .layernorm, ffnMult: 2, subsampleStrides: [3, 1],
                          mamba: .init(dState: 8, dConv: 4, expand: 1, dtRank: 2),
                          onlineCMN: .init(priorFrames: 20, windowFrames: 100), vocab: Self.vocab),
        ]
        for (i, c) in configs.enumerated() {
            let enc = try RandomWeights.encoder(c, seed: UInt64(10 + i))
            var rng = SeededRandom(seed: 99)
            let feats = rng.matrix(1001, 80)
            let whole = enc.forward(feats)
            // ceil(ceil(1001/s1)/s2): 251 for strides 2·2, 334 for 3·1
            XCTAssertEqual(whole.rows, c.strides == [3, 1] ? 334 : 251)
            let diff = whole.maxAbsDifference(enc.steppedLogits(feats))
            print("encoder \(c.mixer) strides \(c.strides) step vs forward (1001 frames): max abs diff \(diff)")
            XCTAssertLessThanOrEqual(diff, 1e-4)
        }
    }

    /// Advancing B streams together (GEMM over the batch) gives each stream exactly what stepping it
    /// alone gives, for every mixer, with FFNs, across output frames.
    func testBatchedStepEqualsPerStreamStep() throws {
        let configs = [
            EncoderConfig(mixer: .s4d, dModel: 24, layers: 2, norm: .layernorm, ffnMult: 2, subsampleStrides: [3, 1],
                          s4d: .init(dState: 16), vocab: Self.vocab),
            EncoderConfig(mixer: .mamba, dModel: 24, layers: 2, norm: .rmsnorm, ffnMult: 2,
                          mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 2), vocab: Self.vocab),
            EncoderConfig(mixer: .mamba2, dModel: 24, layers: 2, norm: .rmsnorm, ffnMult: 2,
                          mamba2: .init(dState: 8, dConv: 4, expand: 2, headdim: 12, ngroups: 1), vocab: Self.vocab),
            EncoderConfig(mixer: .s5, dModel: 24, layers: 2, norm: .layernorm, ffnMult: 0, subsampleStrides: [3, 1],
                          s5: .init(dState: 16), vocab: Self.vocab),
            // Mamba, attention, Mamba, attention (four segments: a Mamba segment after an attention one), the
            // window shorter than the stream.
            EncoderConfig(mixer: .hybrid, dModel: 24, layers: 4, norm: .rmsnorm, ffnMult: 2,
                          mamba: .init(dState: 8, dConv: 4, expand: 2, dtRank: 2),
                          hybrid: .init(attnEvery: 2, heads: 2, window: 5), vocab: Self.vocab),
            EncoderConfig(mixer: .mamba, dModel: 24, layers: 2, norm: .layernorm, ffnMult: 2, subsampleStrides: [3, 1],
                          mamba: .init(dState: 8, dConv: 4, expand: 1, dtRank: 2),
                          onlineCMN: .init(priorFrames: 5, windowFrames: 20), vocab: Self.vocab),
        ]
        for (ci, c) in configs.enumerated() {
            let enc = try RandomWeights.encoder(c, seed: UInt64(30 + ci))
            let streams = 5, frames = 61, f = c.nMels, v = c.vocab.count
            var rng = SeededRandom(seed: 77)
            let feats = (0..<streams).map { _ in rng.matrix(frames, f) }
            let alone = feats.map { enc.steppedLogits($0) }
            let states = (0..<streams).map { _ in enc.makeState() }
            let scratch = enc.makeBatchScratch(maxBatch: 8)
            var batched = [Matrix](repeating: Matrix(rows: 0, cols: v), count: streams)
            var input = [Float](repeating: 0, count: streams * f)
            for t in 0..<frames {
                for i in 0..<streams { for j in 0..<f { input[i * f + j] = feats[i][t, j] } }
                if input.withUnsafeBufferPointer({ enc.stepBatch($0.baseAddress!, states: states, scratch: scratch) }) {
                    for i in 0..<streams {
                        batched[i].append(rowsOf: Matrix(rows: 1, cols: v, data: Array(scratch.logits.buffer[(i * v)..<((i + 1) * v)])))
                    }
                }
            }
            var worst: Float = 0
            for i in 0..<streams {
                XCTAssertEqual(batched[i].rows, alone[i].rows)
                worst = max(worst, batched[i].maxAbsDifference(alone[i]))
            }
            print("encoder \(c.mixer) batched (\(streams) streams) vs per-stream step: max abs diff \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-5)
            XCTAssertGreaterThan(batched[0].maxAbsDifference(batched[1]), 1e-3, "streams are independent")
        }
    }

    /// `State.reset()` starts a new utterance: online CMN's running mean and frame count go back to the
    /// start, as do the convolutions and blocks, so a reused state equals a fresh one.
    func testResetStateEqualsFreshStateWithOnlineCMN() throws {
        let c = EncoderConfig(mixer: .mamba, dModel: 16, layers: 1, norm: .layernorm, ffnMult: 0, subsampleStrides: [3, 1],
                              mamba: .init(dState: 4, dConv: 4, expand: 1, dtRank: 1),
                              onlineCMN: .init(priorFrames: 4, windowFrames: 12), vocab: Self.vocab)
        let enc = try RandomWeights.encoder(c, seed: 77)
        var rng = SeededRandom(seed: 5)
        let first = rng.matrix(90, 80), second = rng.matrix(60, 80)
        func run(_ x: Matrix, _ s: Encoder.State) -> [Float] {
            var out: [Float] = []
            for t in 0..<x.rows {
                let ready = x.data.withUnsafeBufferPointer { enc.step($0.baseAddress! + t * 80, state: s) }
                if ready { out += Array(UnsafeBufferPointer(start: s.logits.pointer, count: c.vocab.count)) }
            }
            return out
        }
        let reused = enc.makeState()
        _ = run(first, reused)
        reused.reset()
        let again = run(second, reused), fresh = run(second, enc.makeState())
        XCTAssertEqual(again, fresh)
        // without the reset the running mean remembers the first utterance
        let carried = enc.makeState()
        _ = run(first, carried)
        XCTAssertNotEqual(run(second, carried), fresh)
    }

    /// The tiny encoders exported by the PyTorch recipe give the same logits here.
    func testTinyEncodersMatchPyTorch() throws {
        for name in ["encoder_s4d_tiny", "encoder_mamba_tiny", "encoder_mamba2_tiny", "encoder_s5_tiny", "encoder_hybrid_tiny",
                     "encoder_mamba_cmn_tiny"] {
            let t = try Fixtures.tensors(name)
            let config = try JSONDecoder().decode(EncoderConfig.self, from: Data(contentsOf: Fixtures.directory.appendingPathComponent(name + ".json")))
            let enc = try Encoder(config: config, weights: WeightStore(tensors: t.filter { $0.key != "input" && $0.key != "output" }))
            let feats = Fixtures.matrix(t["input"]!), expected = Fixtures.matrix(t["output"]!)
            let got = enc.forward(feats)
            let diff = got.maxAbsDifference(expected)
            let stepDiff = enc.steppedLogits(feats).maxAbsDifference(expected)
            print("\(name) golden: forward \(diff), step \(stepDiff)")
            XCTAssertLessThanOrEqual(diff, 1e-4, name)
            XCTAssertLessThanOrEqual(stepDiff, 1e-4, name)
            if config.onlineCMN != nil {  // the running mean matters: without it the logits differ
                var plain = config
                plain.onlineCMN = nil
                let e2 = try Encoder(config: plain, weights: WeightStore(tensors: t.filter { $0.key != "input" && $0.key != "output" }))
                XCTAssertGreaterThan(e2.forward(feats).maxAbsDifference(expected), 1e-2, name)
            }
        }
    }

    func testGreedyCTCCollapsesRepeatsAndBlanks() {
        // argmax per frame: a a _ a b b _ _ c  →  a a b c
        let seq = [2, 2, 0, 2, 3, 3, 0, 0, 4]
        var data: [Float] = []
        for s in seq { var row = [Float](repeating: 0, count: 6); row[s] = 5; data += row }
        let toks = CTCGreedyDecoder.decode(Matrix(rows: seq.count, cols: 6, data: data))
        XCTAssertEqual(toks.map(\.token), [2, 2, 3, 4])
        XCTAssertEqual(toks.map(\.frame), [0, 3, 4, 8])
    }
}
