import CFFTW
import Foundation

/// FFTW's planner is not thread-safe (execution is); every plan creation and destruction goes through this lock.
private let fftwPlannerLock = NSLock()

/// A real-input FFT of fixed size `n` (FFTW single precision), with its own aligned buffers.
///
/// `input` holds `n` reals; `output` holds `n/2 + 1` complex bins as interleaved (re, im).
/// `forward()` transforms input → output; `inverse()` transforms output → input, unnormalised
/// (divide by `n` yourself), exactly as FFTW defines them.
public final class RealFFT {
    public let n: Int
    /// (n) real samples.
    public let input: UnsafeMutablePointer<Float>
    /// (n/2 + 1) complex bins, interleaved re, im → 2·(n/2 + 1) floats.
    public let output: UnsafeMutablePointer<Float>
    private let forwardPlan: fftwf_plan
    private let inversePlan: fftwf_plan

    public init(size n: Int) {
        precondition(n >= 2, "FFT size must be at least 2")
        self.n = n
        let bins = n / 2 + 1
        input = fftwf_alloc_real(n)!
        input.initialize(repeating: 0, count: n)
        let complexOut = fftwf_alloc_complex(bins)!
        output = UnsafeMutableRawPointer(complexOut).bindMemory(to: Float.self, capacity: 2 * bins)
        output.initialize(repeating: 0, count: 2 * bins)
        fftwPlannerLock.lock()
        // FFTW_ESTIMATE does not touch the buffers while planning and gives deterministic plans.
        forwardPlan = fftwf_plan_dft_r2c_1d(Int32(n), input, complexOut, UInt32(FFTW_ESTIMATE))!
        inversePlan = fftwf_plan_dft_c2r_1d(Int32(n), complexOut, input, UInt32(FFTW_ESTIMATE))!
        fftwPlannerLock.unlock()
    }

    deinit {
        fftwPlannerLock.lock()
        fftwf_destroy_plan(forwardPlan)
        fftwf_destroy_plan(inversePlan)
        fftwPlannerLock.unlock()
        fftwf_free(input)
        fftwf_free(output)
    }

    /// output = FFT(input). Note: FFTW may overwrite `input` only for c2r, not r2c.
    @inline(__always) public func forward() { fftwf_execute(forwardPlan) }

    /// input = unnormalised inverse FFT(output). Destroys `output`.
    @inline(__always) public func inverse() { fftwf_execute(inversePlan) }
}

/// A forward-only real FFT of fixed size `n` in double precision (FFTW `fftw_plan_dft_r2c_1d`).
///
/// The log-mel front end uses it: in single precision, FFT rounding (≈ 1e-7 of the frame's energy)
/// swamps quiet bands of loud frames and moves their log energies by up to 2e-3; in double
/// precision the features agree with the reference to ~1e-6 at negligible cost (one 512-point FFT per 10 ms).
public final class DoubleRealFFT {
    public let n: Int
    /// (n) real samples.
    public let input: UnsafeMutablePointer<Double>
    /// (n/2 + 1) complex bins, interleaved re, im.
    public let output: UnsafeMutablePointer<Double>
    private let plan: fftw_plan

    public init(size n: Int) {
        precondition(n >= 2, "FFT size must be at least 2")
        self.n = n
        let bins = n / 2 + 1
        input = fftw_alloc_real(n)!
        input.initialize(repeating: 0, count: n)
        let complexOut = fftw_alloc_complex(bins)!
        output = UnsafeMutableRawPointer(complexOut).bindMemory(to: Double.self, capacity: 2 * bins)
        output.initialize(repeating: 0, count: 2 * bins)
        fftwPlannerLock.lock()
        plan = fftw_plan_dft_r2c_1d(Int32(n), input, complexOut, UInt32(FFTW_ESTIMATE))!
        fftwPlannerLock.unlock()
    }

    deinit {
        fftwPlannerLock.lock()
        fftw_destroy_plan(plan)
        fftwPlannerLock.unlock()
        fftw_free(input)
        fftw_free(output)
    }

    /// output = FFT(input).
    @inline(__always) public func forward() { fftw_execute(plan) }
}
