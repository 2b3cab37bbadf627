// Shared by the fuzz targets: the libFuzzer entry (fuzz builds) and the corpus replay (ordinary builds).
import Foundation

/// A libFuzzer callback: one input, return 0.
public typealias FuzzTarget = @convention(c) (UnsafeRawPointer, Int) -> CInt

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: FuzzTarget) -> CInt

/// Hands the process to libFuzzer's driver. SwiftPM links an executable's entry point as
/// `<module>_main`, so each target exports that name and calls this.
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ target: FuzzTarget) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v, target)
}
#endif

/// Runs every file of the given folders (or files) through `target` once: the regression check for
/// inputs that once crashed, used by the test suite. Returns the number of inputs run.
public func replayCorpus(_ arguments: [String], _ target: FuzzTarget) throws -> Int {
    var n = 0
    for arg in arguments {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: arg, isDirectory: &isDir) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: arg])
        }
        let paths = isDir.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: arg).sorted().map { (arg as NSString).appendingPathComponent($0) }
            : [arg]
        for p in paths {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
            _ = bytes.withUnsafeBytes { target($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
            n += 1
        }
    }
    return n
}
