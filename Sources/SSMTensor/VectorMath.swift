import CSupport

/// Element-wise math over float buffers, in place: AVX2 + FMA polynomial versions where the CPU has
/// them, libm loops elsewhere (`Sources/CSupport/ssm_vmath.c`). All recurrent and parallel paths use
/// these, so stepping and whole-sequence runs apply the same arithmetic. Allocate nothing.
public enum VectorMath {
    /// x ← exp(x)
    @inline(__always) public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vexp(x, Int32(count)) }
    /// x ← 0.5·x·(1 + erf(x/√2)), PyTorch's exact GELU
    @inline(__always) public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vgelu(x, Int32(count)) }
    /// x ← x·σ(x)
    @inline(__always) public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vsilu(x, Int32(count)) }
    /// x ← 1 / (1 + e⁻ˣ)
    @inline(__always) public static func sigmoid(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vsigmoid(x, Int32(count)) }
    /// x ← log(1 + eˣ), or x above 20 (PyTorch's `F.softplus` threshold)
    @inline(__always) public static func softplus(_ x: UnsafeMutablePointer<Float>, count: Int) {
        ssm_vsoftplus(x, Int32(count))
    }

    /// One selective-scan step of Mamba for E channels × N states (see `ssm_selective_scan_step`):
    /// h ← exp(dt·A)·h + dt·B·x; y = (h·C + D·x)·gate. h, A (E, N); dt, x, d, gate, y (E); b, c (N).
    @inline(__always)
    public static func selectiveScanStep(h: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, dt: UnsafePointer<Float>,
                                         x: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>,
                                         d: UnsafePointer<Float>, gate: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                         channels e: Int, states n: Int) {
        ssm_selective_scan_step(h, a, dt, x, b, c, d, gate, y, Int32(e), Int32(n))
    }

    /// The libm loops whatever the CPU (tests compare the AVX2 versions with them).
    public enum Portable {
        public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vexp_portable(x, Int32(count)) }
        public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vgelu_portable(x, Int32(count)) }
        public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vsilu_portable(x, Int32(count)) }
        public static func sigmoid(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vsigmoid_portable(x, Int32(count)) }
        public static func softplus(_ x: UnsafeMutablePointer<Float>, count: Int) { ssm_vsoftplus_portable(x, Int32(count)) }
        public static func selectiveScanStep(h: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, dt: UnsafePointer<Float>,
                                             x: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>,
                                             d: UnsafePointer<Float>, gate: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                             channels e: Int, states n: Int) {
            ssm_selective_scan_step_portable(h, a, dt, x, b, c, d, gate, y, Int32(e), Int32(n))
        }
    }

    /// Whether the AVX2 versions run on this CPU.
    public static var usesAVX2: Bool { ssm_vmath_uses_avx2() != 0 }
}
