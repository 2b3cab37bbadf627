// Preallocated float storage for run-state and scratch buffers (the llama2.c `RunState` idea):
// allocated once when a layer state is created, reused for every frame, freed in deinit.

/// A fixed-size, zero-initialised, heap-allocated Float buffer with reference semantics.
///
/// Unlike `[Float]`, writing through `pointer` never triggers copy-on-write, so hot loops that
/// use it allocate nothing. Each stream owns its buffers; they are not shared between threads.
public final class FloatBuffer {
    /// Number of elements.
    public let count: Int
    /// Start of the storage (`count` elements).
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { pointer.deallocate() }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    /// Sets every element to zero (used by `reset()` of recurrent states).
    public func zero() { pointer.update(repeating: 0, count: count) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    /// A copy of the contents as an array (tests and diagnostics; allocates).
    public var array: [Float] { Array(buffer) }
}
