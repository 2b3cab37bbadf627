// libFuzzer target: the model loader — safetensors header/offset parsing, dtype conversion, the
// encoder config JSON, and binding the tensors to an encoder (shape checks). The input is split at
// its first 0x00 byte: before it the config JSON, after it the safetensors file.
// Fuzz: Fuzz/run.sh model SECONDS
import Foundation
import SSMModels
import SSMTensor
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = Data(bytes: start, count: count)
    let split = input.firstIndex(of: 0) ?? input.endIndex
    let json = input[input.startIndex..<split]
    let weights = split < input.endIndex ? input[(split + 1)...] : Data()
    guard let tensors = try? SafeTensors.parse(Data(weights)) else { return 0 }
    guard let config = try? JSONDecoder().decode(EncoderConfig.self, from: Data(json)) else { return 0 }
    // Keep the fuzzer away from configs that are valid but enormous (memory, not correctness).
    guard config.d_model <= 64, config.n_layers <= 4, config.n_mels <= 128, config.ffn_mult <= 4, config.vocab.count <= 64,
          (config.s4d?.d_state ?? 0) <= 64, (config.mamba?.d_state ?? 0) <= 32, (config.mamba?.expand ?? 0) <= 4,
          (config.mamba?.d_conv ?? 0) <= 8, (config.mamba?.dt_rank ?? 0) <= 64, config.subsample_kernel <= 8,
          config.strides.allSatisfy({ $0 <= 8 }) else { return 0 }
    _ = try? Encoder(config: config, weights: WeightStore(tensors: tensors))
    return 0
}

#if FUZZING
// SwiftPM links an executable's entry point as `<module>_main`; hand control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt) -> CInt

@_cdecl("fuzz_model_main")
func fuzzerEntry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { fuzzModel($0, $1) }
}
#else
/// Without libFuzzer (ordinary builds, CI): runs every file of the given corpus folders/files through
/// the target once — the regression check for inputs that once crashed.
@main struct Runner {
    static func main() throws {
        var n = 0
        for arg in CommandLine.arguments.dropFirst() {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: arg, isDirectory: &isDir) else { continue }
            let paths = isDir.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: arg).sorted().map { (arg as NSString).appendingPathComponent($0) }
                : [arg]
            for p in paths {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
                _ = bytes.withUnsafeBytes { fuzzModel($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
                n += 1
            }
        }
        print("ran \(n) inputs")
    }
}
#endif
