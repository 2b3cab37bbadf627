// Resampler.swift: streaming sample-rate conversion over libsoxr.

import CSoxr

/// Mono streaming resampler backed by libsoxr (`soxr_process`).
///
/// * Output is delay-compensated: sample `k` of the output corresponds to time `k / outputRate`
///   of the input, and after `flush` the total output length is `round(n · outputRate / inputRate)`
///   for `n` input samples (libsoxr's own rule).
/// * Equal rates are a passthrough: samples are copied unchanged and libsoxr is not used.
/// * Not thread-safe; use one instance per stream.
public final class Resampler {
    /// libsoxr quality recipes.
    public enum Quality: Sendable {
        /// Cubic interpolation (`SOXR_QQ`).
        case quick
        /// 16-bit, large roll-off (`SOXR_LQ`).
        case low
        /// 16-bit, medium roll-off (`SOXR_MQ`).
        case medium
        /// 20-bit precision (`SOXR_HQ`), libsoxr's default. Used by the speech pipeline.
        case high
        /// 28-bit precision (`SOXR_VHQ`).
        case veryHigh

        var recipe: UInt {
            switch self {
            case .quick: return UInt(SOXR_QQ)
            case .low: return UInt(SOXR_LQ)
            case .medium: return UInt(SOXR_MQ)
            case .high: return UInt(SOXR_20_BITQ)
            case .veryHigh: return UInt(SOXR_28_BITQ)
            }
        }
    }

    public let inputRate: Int
    public let outputRate: Int
    public let quality: Quality
    /// Whether the rates are equal and samples are copied through.
    public var isPassthrough: Bool { soxr == nil }

    private var soxr: OpaquePointer?
    private var scratch: [Float]
    private var flushed = false

    /// Creates a resampler from `inputRate` to `outputRate` (both in Hz, > 0).
    ///
    /// - Throws: ``AudioError/invalidArgument(_:)`` for non-positive rates,
    ///   ``AudioError/resamplerFailed(_:)`` if libsoxr cannot be set up.
    public init(inputRate: Int, outputRate: Int, quality: Quality = .high) throws {
        guard inputRate > 0, outputRate > 0 else {
            throw AudioError.invalidArgument("resampler rates must be positive (got \(inputRate) → \(outputRate) Hz)")
        }
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.quality = quality
        self.scratch = []
        guard inputRate != outputRate else { return }

        var error: soxr_error_t? = nil
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var q = soxr_quality_spec(quality.recipe, 0)
        var rt = soxr_runtime_spec(1)
        let handle = soxr_create(Double(inputRate), Double(outputRate), 1, &error, &io, &q, &rt)
        if let error {
            if let handle { soxr_delete(handle) }
            throw AudioError.resamplerFailed(String(cString: error))
        }
        guard let handle else { throw AudioError.resamplerFailed("soxr_create returned no resampler") }
        soxr = handle
        scratch = [Float](repeating: 0, count: 4096)
    }

    deinit {
        if let soxr { soxr_delete(soxr) }
    }

    /// Output samples per input sample.
    public var ratio: Double { Double(outputRate) / Double(inputRate) }

    /// Samples currently held inside libsoxr, in output samples (0 for passthrough).
    public var delay: Double { soxr.map { soxr_delay($0) } ?? 0 }

    public func process(_ input: UnsafeBufferPointer<Float>, into output: inout [Float]) throws {
        guard !flushed else { throw AudioError.resamplerFailed("process called after flush; call reset() first") }
        guard let soxr else {
            output.append(contentsOf: input)
            return
        }
        // An empty buffer may have a nil base address, which libsoxr reads as end of input.
        guard let base = input.baseAddress, !input.isEmpty else { return }
        let want = Int((Double(input.count) * ratio).rounded(.up)) + 64
        if scratch.count < want { scratch = [Float](repeating: 0, count: want) }
        var consumed = 0
        try scratch.withUnsafeMutableBufferPointer { out in
            while true {
                var idone = 0
                var odone = 0
                let error = soxr_process(soxr, base + consumed, input.count - consumed, &idone,
                                         out.baseAddress, out.count, &odone)
                if let error { throw AudioError.resamplerFailed(String(cString: error)) }
                consumed += idone
                output.append(contentsOf: UnsafeBufferPointer(rebasing: out[0..<odone]))
                if consumed >= input.count && odone < out.count { break }
                if idone == 0 && odone == 0 {
                    throw AudioError.resamplerFailed("libsoxr made no progress")
                }
            }
        }
    }

    public func flush(into output: inout [Float]) throws {
        guard !flushed else { return }
        flushed = true
        guard let soxr else { return }
        try scratch.withUnsafeMutableBufferPointer { out in
            while true {
                var odone = 0
                let error = soxr_process(soxr, nil, 0, nil, out.baseAddress, out.count, &odone)
                if let error { throw AudioError.resamplerFailed(String(cString: error)) }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: out[0..<odone]))
                if odone == 0 { break }
            }
        }
    }

    /// Clears all state so the resampler can take a fresh signal (also after `flush`).
    public func reset() throws {
        flushed = false
        if let soxr, let error = soxr_clear(soxr) {
            throw AudioError.resamplerFailed(String(cString: error))
        }
    }
}

extension Resampler {
    /// Converts `input`; returns the new output samples (often fewer than expected while the filter fills).
    public func process(_ input: UnsafeBufferPointer<Float>) throws -> [Float] {
        var out = [Float]()
        try process(input, into: &out)
        return out
    }

    public func process(_ input: [Float]) throws -> [Float] {
        try input.withUnsafeBufferPointer { try process($0) }
    }

    public func process(_ input: [Float], into output: inout [Float]) throws {
        try input.withUnsafeBufferPointer { try process($0, into: &output) }
    }

    /// Ends the stream; returns the samples still held in the filter.
    public func flush() throws -> [Float] {
        var out = [Float]()
        try flush(into: &out)
        return out
    }
}
