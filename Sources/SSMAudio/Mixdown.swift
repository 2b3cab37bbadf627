// Mixdown.swift: interleaved channels → mono, and the sample sanitiser shared by file and stream input.

/// Appends the per-frame average of `channels` interleaved channels to `output`.
///
/// The sum runs over channels in order, in `Float`, and is then divided by the channel count; mono is
/// copied unchanged. `SoundFile.readMono` and the stdin parser share this so they agree bit for bit.
/// Samples are then made safe with ``saneSample(_:)``.
@inline(__always)
func mixdown(interleaved: UnsafePointer<Float>, frames: Int, channels: Int, into output: inout [Float]) {
    if channels == 1 {
        let start = output.count
        output.append(contentsOf: UnsafeBufferPointer(start: interleaved, count: frames))
        for i in start..<output.count { output[i] = saneSample(output[i]) }
        return
    }
    let scale = Float(channels)
    reserveGeometric(&output, extra: frames)
    var p = interleaved
    for _ in 0..<frames {
        var sum: Float = 0
        for c in 0..<channels { sum += p[c] }
        output.append(saneSample(sum / scale))
        p += channels
    }
}

/// Largest sample magnitude passed on (integer PCM is within ±1; float files get 18 dB of headroom).
public let maximumSampleMagnitude: Float = 8

/// NaN and ±Inf (float files) become 0, and finite values are clamped to ±``maximumSampleMagnitude``:
/// one NaN, or a value near Float.greatestFiniteMagnitude that overflows inside the resampler's filter,
/// would otherwise poison the resampler and the encoder's recurrent state for the rest of the stream.
/// File decoding and the stdin parser both apply it, so they still agree bit for bit.
@inline(__always)
func saneSample(_ x: Float) -> Float {
    x.isFinite ? min(max(x, -maximumSampleMagnitude), maximumSampleMagnitude) : 0
}

/// Makes room for `extra` more elements without the quadratic cost of repeated exact `reserveCapacity`.
@inline(__always)
func reserveGeometric(_ array: inout [Float], extra: Int) {
    let needed = array.count + extra
    if array.capacity < needed { array.reserveCapacity(max(needed, 2 * array.capacity)) }
}
