// libFuzzer target: the model loader — safetensors header/offset parsing, dtype conversion, the
// encoder config JSON, and binding the tensors to an encoder (shape checks). The input is split at
// its first 0x00 byte: before it the config JSON, after it the safetensors file.
// Fuzz: Fuzz/run.sh model SECONDS
import Foundation
import FuzzSupport
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
    guard config.dModel <= 64, config.layers <= 4, config.nMels <= 128, config.ffnMult <= 4, config.vocab.count <= 64,
          (config.s4d?.dState ?? 0) <= 64, (config.mamba?.dState ?? 0) <= 32, (config.mamba?.expand ?? 0) <= 4,
          (config.mamba?.dConv ?? 0) <= 8, (config.mamba?.dtRank ?? 0) <= 64, config.subsampleKernel <= 8,
          config.strides.allSatisfy({ $0 <= 8 }) else { return 0 }
    _ = try? Encoder(config: config, weights: WeightStore(tensors: tensors))
    return 0
}

#if FUZZING
@_cdecl("fuzz_model_main")
func fuzzerEntry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { fuzzModel($0, $1) }
}
#else
@main struct Runner {
    static func main() throws {
        print("ran \(try replayCorpus(Array(CommandLine.arguments.dropFirst())) { fuzzModel($0, $1) }) inputs")
    }
}
#endif
