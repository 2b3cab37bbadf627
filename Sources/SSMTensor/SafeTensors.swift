import Foundation

/// Errors from reading weights. Every message names the file or the tensor involved.
public enum WeightError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, reason: String)
    case malformedHeader(path: String, reason: String)
    case unsupportedDType(tensor: String, dtype: String)
    case outOfBounds(tensor: String, reason: String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case unusedTensors([String])
    case invalidConfig(String)
    /// A value a model cannot use: not finite, beyond `SafeTensors.maxMagnitude`, or outside what the
    /// tensor's role allows (a standard deviation that is not positive). `value` is as printed.
    case invalidValue(tensor: String, index: Int, value: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): return "cannot read weights '\(path)': \(reason)"
        case let .malformedHeader(path, reason): return "malformed safetensors header in '\(path)': \(reason)"
        case let .unsupportedDType(tensor, dtype): return "tensor '\(tensor)' has unsupported dtype \(dtype) (expected F32, F16, BF16 or F64)"
        case let .outOfBounds(tensor, reason): return "tensor '\(tensor)' lies outside the file: \(reason)"
        case let .missingTensor(name): return "missing tensor '\(name)'"
        case let .shapeMismatch(tensor, expected, found):
            return "tensor '\(tensor)' has shape \(found), expected \(expected)"
        case let .unusedTensors(names):
            let shown = names.prefix(5).joined(separator: ", ")
            return "unexpected tensors not used by the model: \(shown)\(names.count > 5 ? " (+\(names.count - 5) more)" : "")"
        case let .invalidConfig(reason): return "invalid model config: \(reason)"
        case let .invalidValue(tensor, index, value, reason):
            return "tensor '\(tensor)' holds \(value) at element \(index) (\(reason))"
        }
    }
}

/// A tensor read from a safetensors file, converted to Float32.
public struct NamedTensor: Sendable {
    public var shape: [Int]
    public var values: [Float]
    public var count: Int { values.count }

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// Reader for the safetensors format (https://github.com/huggingface/safetensors):
/// `u64 little-endian header length N`, `N bytes of JSON {name: {dtype, shape, data_offsets}}`, raw data.
public enum SafeTensors {
    /// Largest magnitude a weight may have. Trained weights here stay below 100 (S4D's `A_imag`, π·n,
    /// is the largest); a value beyond this cannot come out of training, and its products overflow
    /// Float32 within a layer or two, so `parse` refuses it rather than let it turn into NaN logits.
    public static let maxMagnitude: Float = 1e10

    /// Reads every tensor of the file at `path`, validating the header, bounds and values.
    public static func read(path: String) throws -> [String: NamedTensor] {
        let data: Data
        do { data = try InputFile.read(path, mapped: true) } catch let e as InputFile.Problem {
            throw WeightError.cannotRead(path: path, reason: e.reason)
        }
        return try parse(data, path: path)
    }

    /// Parses a safetensors image already in memory; `path` is only used in error messages.
    public static func parse(_ data: Data, path: String = "<memory>") throws -> [String: NamedTensor] {
        guard data.count >= 8 else {
            throw WeightError.malformedHeader(path: path, reason: "file is \(data.count) bytes, shorter than the 8-byte length prefix")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw WeightError.malformedHeader(path: path, reason: "header length \(headerLength) exceeds file size \(data.count)")
        }
        let headerStart = data.startIndex + 8
        let headerEnd = headerStart + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data[headerStart..<headerEnd])
        } catch {
            throw WeightError.malformedHeader(path: path, reason: "header is not valid JSON")
        }
        guard let header = json as? [String: Any] else {
            throw WeightError.malformedHeader(path: path, reason: "header is not a JSON object")
        }
        let payload = data.count - 8 - Int(headerLength)
        var result: [String: NamedTensor] = [:]
        // In name order, so that the first bad tensor reported is always the same one.
        for name in header.keys.sorted() where name != "__metadata__" {
            let entry = header[name]!
            guard let info = entry as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2 else {
                throw WeightError.malformedHeader(path: path, reason: "entry for '\(name)' lacks dtype, shape or data_offsets")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let n = (v as? NSNumber)?.intValue, n >= 0 else {
                    throw WeightError.malformedHeader(path: path, reason: "tensor '\(name)' has an invalid shape")
                }
                return n
            }
            let offsets = try offsetsAny.map { v -> Int in
                guard let n = (v as? NSNumber)?.intValue, n >= 0 else {
                    throw WeightError.malformedHeader(path: path, reason: "tensor '\(name)' has invalid data_offsets")
                }
                return n
            }
            let elementSize: Int
            switch dtype {
            case "F32": elementSize = 4
            case "F16", "BF16": elementSize = 2
            case "F64": elementSize = 8
            default: throw WeightError.unsupportedDType(tensor: name, dtype: dtype)
            }
            var count = 1
            for d in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, p <= Int(Int32.max) else {
                    throw WeightError.outOfBounds(tensor: name, reason: "shape \(shape) is too large")
                }
                count = p
            }
            guard offsets[0] <= offsets[1], offsets[1] <= payload else {
                throw WeightError.outOfBounds(tensor: name, reason: "data_offsets \(offsets) beyond the \(payload)-byte data section")
            }
            guard offsets[1] - offsets[0] == count * elementSize else {
                throw WeightError.outOfBounds(tensor: name, reason: "data_offsets span \(offsets[1] - offsets[0]) bytes but shape \(shape) × \(dtype) needs \(count * elementSize)")
            }
            let start = headerEnd + offsets[0]
            var values = [Float](repeating: 0, count: count)
            // Converted and checked in one pass: every value finite and within ±maxMagnitude.
            var bad: Int?
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let base = raw.baseAddress!.advanced(by: start - data.startIndex)
                for i in 0..<count {
                    switch dtype {
                    case "F32":
                        values[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    case "F64":
                        values[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                    case "F16":
                        values[i] = Float(Float16(bitPattern: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                    default: // BF16: the top half of a Float32
                        let bits = UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16
                        values[i] = Float(bitPattern: bits)
                    }
                    if !(abs(values[i]) <= maxMagnitude) && bad == nil { bad = i }  // NaN fails the test too
                }
            }
            if let i = bad {
                throw WeightError.invalidValue(tensor: name, index: i, value: "\(values[i])",
                                               reason: "weights must be finite and within ±\(RangeCheck.format(maxMagnitude))")
            }
            result[name] = NamedTensor(shape: shape, values: values)
        }
        return result
    }

    /// Serialises Float32 tensors (sorted by name) to the safetensors format.
    public static func serialize(_ tensors: [String: NamedTensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]] as [String: Any]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) } // pad with spaces to keep data aligned
        var out = Data()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            tensors[name]!.values.withUnsafeBufferPointer { out.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: 4 * $0.count)) }
        }
        return out
    }
}

/// A set of named tensors that model code binds explicitly by name, with shape checks.
///
/// `take(_:shape:)` marks a tensor used; `checkAllUsed()` reports tensors the model did not expect,
/// so that a checkpoint that does not match its config fails loudly instead of silently.
public final class WeightStore {
    private var tensors: [String: NamedTensor]
    private var used: Set<String> = []
    public let source: String
    /// How layers that bind matrices from this store keep them for per-frame products (see
    /// `MatrixPrecision`); fixed when the store is made.
    public let matrixPrecision: MatrixPrecision

    public init(tensors: [String: NamedTensor], source: String = "<memory>", precision: MatrixPrecision = .float32) {
        self.tensors = tensors
        self.source = source
        matrixPrecision = precision
    }

    public convenience init(path: String, precision: MatrixPrecision = .float32) throws {
        self.init(tensors: try SafeTensors.read(path: path), source: path, precision: precision)
    }

    public var names: [String] { tensors.keys.sorted() }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    /// Returns the values of `name`, checking its shape. `shape` may use -1 for "any".
    public func take(_ name: String, shape: [Int]) throws -> [Float] {
        guard let t = tensors[name] else { throw WeightError.missingTensor(name) }
        let matches = t.shape.count == shape.count && zip(t.shape, shape).allSatisfy { $1 == -1 || $0 == $1 }
        guard matches else { throw WeightError.shapeMismatch(tensor: name, expected: shape, found: t.shape) }
        used.insert(name)
        return t.values
    }

    /// `take` for a tensor every element of which must be positive (a standard deviation: a divisor).
    public func takePositive(_ name: String, shape: [Int]) throws -> [Float] {
        let v = try take(name, shape: shape)
        if let i = v.firstIndex(where: { !($0 > 0) }) {
            throw WeightError.invalidValue(tensor: name, index: i, value: RangeCheck.format(v[i]), reason: "must be positive")
        }
        return v
    }

    /// The raw tensor (shape unchecked), marking it used.
    public func tensor(_ name: String) throws -> NamedTensor {
        guard let t = tensors[name] else { throw WeightError.missingTensor(name) }
        used.insert(name)
        return t
    }

    /// A view that prefixes every name with `prefix + "."`.
    public func scoped(_ prefix: String) -> ScopedWeights { ScopedWeights(store: self, prefix: prefix) }

    /// Throws if some tensors in the file were never taken by the model.
    public func checkAllUsed(ignoring ignored: Set<String> = []) throws {
        let unused = tensors.keys.filter { !used.contains($0) && !ignored.contains($0) }.sorted()
        if !unused.isEmpty { throw WeightError.unusedTensors(unused) }
    }
}

/// A prefix view of a `WeightStore` (`layers.3.mixer` + `.in_proj.weight`).
public struct ScopedWeights {
    public let store: WeightStore
    public let prefix: String

    public func name(_ n: String) -> String { prefix.isEmpty ? n : prefix + "." + n }
    public func take(_ n: String, shape: [Int]) throws -> [Float] { try store.take(name(n), shape: shape) }
    public func takePositive(_ n: String, shape: [Int]) throws -> [Float] { try store.takePositive(name(n), shape: shape) }
    public func contains(_ n: String) -> Bool { store.contains(name(n)) }
    public func scoped(_ p: String) -> ScopedWeights { ScopedWeights(store: store, prefix: name(p)) }
}

// MARK: - Checks shared by the loaders (models, voices, language models, decoding settings)

/// Reading a file that a model, voice or language model is made of, with one short reason for each
/// way a path can be unusable ("empty file name", "no such file", "is a directory", "permission
/// denied", else the system's words). Every loader goes through here, so they all say it the same way.
public enum InputFile {
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// Why `path` cannot be read as a regular file, or nil when it can be opened for reading.
    public static func problem(_ path: String) -> String? {
        if path.isEmpty { return "empty file name" }
        var st = stat()
        guard stat(path, &st) == 0 else { return reason(errno) }
        if st.st_mode & S_IFMT == S_IFDIR { return "is a directory" }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return reason(errno) }
        close(fd)
        return nil
    }

    /// Whether something (file or folder) exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return !path.isEmpty && stat(path, &st) == 0
    }

    /// The bytes of the file at `path` (memory-mapped when `mapped`); throws a `Problem`.
    public static func read(_ path: String, mapped: Bool = false) throws -> Data {
        if let p = problem(path) { throw Problem(p) }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: mapped ? .alwaysMapped : [])
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            if let u = underlying, u.domain == NSPOSIXErrorDomain { throw Problem(reason(Int32(u.code))) }
            throw Problem(error.localizedDescription)
        }
    }

    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file"
        case EACCES: return "permission denied"
        case EISDIR: return "is a directory"
        case ENOTDIR: return "a component of the path is not a directory"
        default: return String(cString: strerror(code))
        }
    }
}

/// The one way option checks and config loaders state a number's range, so that every message reads
/// alike: "n_layers must be at most 256, got 1000000000000", "lm_weight must be at least 0, got -100",
/// "lm_weight must be a number between 0 and 10, got nan". NaN is never in a range.
public enum RangeCheck {
    /// nil when `value` lies in `range`, else "`field` must be at least/at most …, got `value`".
    public static func problem<T: BinaryInteger>(_ field: String, _ value: T, _ range: ClosedRange<T>) -> String? {
        if range.contains(value) { return nil }
        let side = value < range.lowerBound ? "at least \(range.lowerBound)" : "at most \(range.upperBound)"
        return "\(field) must be \(side), got \(value)"
    }

    public static func problem<T: BinaryFloatingPoint>(_ field: String, _ value: T, _ range: ClosedRange<T>) -> String? {
        if range.contains(value) { return nil }
        let side = value.isNaN ? "a number \(describe(range))"
            : value < range.lowerBound ? "at least \(format(range.lowerBound))" : "at most \(format(range.upperBound))"
        return "\(field) must be \(side), got \(format(value))"
    }

    /// "between 1 and 1024"
    public static func describe<T: BinaryInteger>(_ r: ClosedRange<T>) -> String { "between \(r.lowerBound) and \(r.upperBound)" }

    /// "between 0 and 10", ">= 0 (or inf)"
    public static func describe<T: BinaryFloatingPoint>(_ r: ClosedRange<T>) -> String {
        if r.upperBound == .infinity { return ">= \(format(r.lowerBound)) (or inf)" }
        return "between \(format(r.lowerBound)) and \(format(r.upperBound))"
    }

    /// `r` for a help text: "1 … 1024", "0 … inf".
    public static func text<T: BinaryInteger>(_ r: ClosedRange<T>) -> String { "\(r.lowerBound) … \(r.upperBound)" }
    public static func text<T: BinaryFloatingPoint>(_ r: ClosedRange<T>) -> String { "\(format(r.lowerBound)) … \(format(r.upperBound))" }

    /// A number as a person writes it: 10 rather than 10.0, 1e+10 rather than 10000000000.0.
    public static func format<T: BinaryFloatingPoint>(_ x: T) -> String {
        let d = Double(x)
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == d.rounded() && abs(d) < 1e7 { return String(Int(d)) }
        if abs(d) >= 1e7 || abs(d) < 1e-4 { return String(format: "%g", d) }
        return "\(x)"
    }
}
