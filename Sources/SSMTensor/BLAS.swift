import COpenBLAS

/// Thin, typed wrappers over the few OpenBLAS routines the engine needs.
///
/// Weight convention everywhere (PyTorch `nn.Linear`): `W` has shape `(out, in)`, row-major,
/// and `y = W·x + b`.
public enum BLAS {
    /// Sets the number of OpenBLAS threads (1 is best for streaming; the default for the CLI).
    ///
    /// OpenBLAS starts its thread pool when the library is loaded, before `main`: `OPENBLAS_NUM_THREADS`
    /// threads, else one per core, each with its own stack and a 128 MB work buffer of address space
    /// (under `ulimit -v` a thread whose buffer cannot be mapped retries forever). This grows the pool
    /// to `n` when it is smaller and never shrinks it, so a process that wants a small pool sets
    /// `OPENBLAS_NUM_THREADS` before it starts (`ssmspeech` starts itself again with 1).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// y (out) = W (out, in) · x (in) [+ y if accumulate]
    @inline(__always)
    public static func gemv(_ w: UnsafePointer<Float>, rows out: Int, cols inDim: Int,
                            x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(out), Int32(inDim), 1.0, w, Int32(inDim),
                    x, 1, accumulate ? 1.0 : 0.0, y, 1)
    }

    /// Y (L, out) = X (L, in) · Wᵀ, with W (out, in).
    public static func gemmXWt(_ x: UnsafePointer<Float>, rows l: Int, inDim: Int,
                               w: UnsafePointer<Float>, outDim: Int, y: UnsafeMutablePointer<Float>,
                               accumulate: Bool = false) {
        guard l > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(outDim), Int32(inDim),
                    1.0, x, Int32(inDim), w, Int32(inDim), accumulate ? 1.0 : 0.0, y, Int32(outDim))
    }
}

import CSupport

/// Floating-point environment of the threads that run recurrent steps.
public enum FloatingPoint {
    /// Turns on flush-to-zero / denormals-are-zero for the calling thread. SSM states decay towards
    /// zero in silence; as subnormals they would make each step many times slower. Call it on every
    /// thread (or Dispatch work item) that steps a model; it costs a few nanoseconds.
    @inline(__always) public static func enableFlushToZero() { ssm_enable_flush_to_zero() }
    public static var flushToZeroEnabled: Bool { ssm_flush_to_zero_enabled() != 0 }
}
