import Foundation
import SSMTensor

/// The feature specification ("logmel-v1"; see Docs/ARCHITECTURE.md). The PyTorch recipe
/// (`Training/ssmspeech_ref/features.py`) implements the same numbers.
public struct FeatureConfig: Codable, Sendable, Equatable {
    public var name = "logmel-v1"
    public var sampleRate = 16_000
    /// Window length in samples (25 ms), periodic Hann.
    public var windowLength = 400
    /// Hop in samples (10 ms).
    public var hopLength = 160
    /// FFT size; frames are zero-padded from `windowLength`.
    public var fftSize = 512
    public var melBins = 80
    public var fMin: Double = 0
    public var fMax: Double = 8_000
    /// Mel energies are clamped to at least this before the natural log.
    public var floor: Float = 1e-10

    public static let logmelV1 = FeatureConfig()
    public init() {}

    /// Frames produced by `samples` samples: max(0, ⌊(n − win)/hop⌋ + 1).
    public func frameCount(samples n: Int) -> Int { n < windowLength ? 0 : (n - windowLength) / hopLength + 1 }
}

/// Triangular mel filters on the HTK scale without area normalisation
/// (the construction of torchaudio `melscale_fbanks(norm=None, mel_scale="htk")`).
public struct MelFilterbank: Sendable {
    public let bins: Int
    public let melBins: Int
    /// (F, bins) dense weights, for tests and export.
    public let weights: [Float]
    /// Per filter: the first FFT bin with non-zero weight and the weights from there on (double precision).
    let sparse: [(start: Int, weights: [Double])]

    public static func hzToMel(_ f: Double) -> Double { 2595 * log10(1 + f / 700) }
    public static func melToHz(_ m: Double) -> Double { 700 * (pow(10, m / 2595) - 1) }

    public init(config c: FeatureConfig) {
        let bins = c.fftSize / 2 + 1
        self.bins = bins
        melBins = c.melBins
        let nyquist = Double(c.sampleRate) / 2
        let freqs = (0..<bins).map { nyquist * Double($0) / Double(bins - 1) }
        let mMin = Self.hzToMel(c.fMin), mMax = Self.hzToMel(c.fMax)
        let fPts = (0..<(c.melBins + 2)).map { Self.melToHz(mMin + (mMax - mMin) * Double($0) / Double(c.melBins + 1)) }
        var w = [Float](repeating: 0, count: c.melBins * bins)
        var sparse: [(Int, [Double])] = []
        for j in 0..<c.melBins {
            var start = -1
            var row: [Double] = []
            for k in 0..<bins {
                let down = (freqs[k] - fPts[j]) / (fPts[j + 1] - fPts[j])
                let up = (fPts[j + 2] - freqs[k]) / (fPts[j + 2] - fPts[j + 1])
                let v = max(0, min(down, up))
                w[j * bins + k] = Float(v)
                if v > 0 {
                    if start < 0 { start = k }
                    row.append(contentsOf: [Double](repeating: 0, count: k - start - row.count)) // (none: filters are contiguous)
                    row.append(v)
                }
            }
            sparse.append((max(start, 0), row))
        }
        weights = w
        self.sparse = sparse
    }
}

/// Streaming log-mel extraction with FFTW.
///
/// Feed samples in chunks of any size; the frames that come out are exactly those of a
/// whole-signal computation (frame `t` covers samples `[hop·t, hop·t + win)`), because frames are
/// computed only once all their samples are present and the arithmetic does not depend on chunking.
public final class LogMelExtractor {
    public let config: FeatureConfig
    public let filterbank: MelFilterbank
    /// (win) periodic Hann window.
    public let window: [Float]
    /// The window in double precision, as used for the FFT.
    private let window64: [Double]
    /// Double-precision FFT (see `DoubleRealFFT` for why features are not computed in float).
    private let fft: DoubleRealFFT
    /// (bins) power spectrum scratch.
    private let power: UnsafeMutablePointer<Double>
    /// Pending samples not yet fully consumed (at most win + chunk); reused storage.
    private var pending: [Float] = []
    /// Frames emitted so far.
    public private(set) var framesEmitted = 0

    public init(config: FeatureConfig = .logmelV1) {
        self.config = config
        filterbank = MelFilterbank(config: config)
        window64 = (0..<config.windowLength).map { n in 0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(config.windowLength)) }
        window = window64.map { Float($0) }
        fft = DoubleRealFFT(size: config.fftSize)
        power = .allocate(capacity: config.fftSize / 2 + 1)
        power.initialize(repeating: 0, count: config.fftSize / 2 + 1)
        pending.reserveCapacity(config.windowLength * 4)
    }

    deinit { power.deallocate() }

    /// Forgets buffered audio and restarts frame numbering.
    public func reset() {
        pending.removeAll(keepingCapacity: true)
        framesEmitted = 0
    }

    /// Computes the log-mel frame for `win` samples at `src` into `out (F)`.
    @inline(__always)
    public func computeFrame(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let win = config.windowLength, n = config.fftSize
        window64.withUnsafeBufferPointer { w in
            for i in 0..<win { fft.input[i] = Double(src[i]) * w[i] }
        }
        for i in win..<n { fft.input[i] = 0 }
        fft.forward()
        let bins = n / 2 + 1
        for k in 0..<bins {
            let re = fft.output[2 * k], im = fft.output[2 * k + 1]
            power[k] = re * re + im * im
        }
        let floor = Double(config.floor)
        for j in 0..<filterbank.melBins {
            let f = filterbank.sparse[j]
            var acc: Double = 0
            f.weights.withUnsafeBufferPointer { wp in
                for i in 0..<wp.count { acc += wp[i] * power[f.start + i] }
            }
            out[j] = Float(log(max(acc, floor)))
        }
    }

    /// Feeds samples; calls `emit` with each completed frame `(F)` (valid only during the call).
    public func accept(_ samples: UnsafeBufferPointer<Float>, emit: (UnsafeBufferPointer<Float>) throws -> Void) rethrows {
        pending.append(contentsOf: samples)
        let win = config.windowLength, hop = config.hopLength, f = config.melBins
        var offset = 0
        try withUnsafeTemporaryAllocation(of: Float.self, capacity: f) { frame in
            try pending.withUnsafeBufferPointer { p in
                while p.count - offset >= win {
                    computeFrame(p.baseAddress! + offset, into: frame.baseAddress!)
                    framesEmitted += 1
                    try emit(UnsafeBufferPointer(frame))
                    offset += hop
                }
            }
        }
        if offset > 0 { pending.removeFirst(offset) }
    }

    /// Convenience: feeds samples and returns the completed frames as a `(frames, F)` matrix.
    public func accept(_ samples: [Float]) -> Matrix {
        var out = Matrix(rows: 0, cols: config.melBins)
        samples.withUnsafeBufferPointer { sp in
            accept(sp) { frame in out.data.append(contentsOf: frame); out.rows += 1 }
        }
        return out
    }

    /// Whole-signal features (T, F).
    public static func compute(_ samples: [Float], config: FeatureConfig = .logmelV1) -> Matrix {
        LogMelExtractor(config: config).accept(samples)
    }
}
