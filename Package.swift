// swift-tools-version: 6.1
// SSMSpeech: streaming speech recognition and synthesis with state-space models.
//
// Module layout, bottom to top (a module imports only modules below it; Docs/ARCHITECTURE.md):
//   C wrappers (CSndFile, CSoxr, CFFTW, COpenBLAS, CEspeakNG), CSupport
//   → SSMAudio (libsndfile reader, stdin PCM/WAV parser, resampler, WAV out)
//   → SSMTensor (tensors, BLAS, safetensors) → SSMFeatures (streaming log-mel)
//   → SSMLayers (S4D, Mamba, norms, convs) → SSMModels (encoder, model folders) → SSMDecoding (CTC, LM)
//   → SSMSynthesis (text front end with espeak-ng, acoustic model, vocoder)
//   → SSMSpeech (the front door: SpeechRecognizer, RecognitionStream, SpeechSynthesizer)
//   → SSMPipeline (the Dispatch graph: bounded channels, nodes, sources, recognition/synthesis adapters)
//   → ssmspeech (command line: flags, output formats, model lookup, latency bench)
import PackageDescription

let package = Package(
    name: "SSMSpeech",
    products: [
        .executable(name: "ssmspeech", targets: ["SSMSpeechCLI"]),
        // What an application imports: `import SSMSpeech`.
        .library(name: "SSMSpeech", targets: ["SSMSpeech"]),
        // The Dispatch graph on top of it, for those who build their own pipelines.
        .library(name: "SSMPipeline", targets: ["SSMPipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Benchmarks/SSMBenchmarks (wall clock, throughput, malloc counts): `swift package benchmark`.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // `ssmspeech serve` (SSMServer): HTTP + WebSocket on SwiftNIO, Prometheus metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // System libraries, each wrapped once (module map + pkg-config).
        .systemLibrary(name: "CSndFile", path: "Sources/CSndFile", pkgConfig: "sndfile",
                       providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CSoxr", path: "Sources/CSoxr", pkgConfig: "soxr",
                       providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "CFFTW", path: "Sources/CFFTW", pkgConfig: "fftw3f",
                       providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CEspeakNG", path: "Sources/CEspeakNG", pkgConfig: "espeak-ng",
                       providers: [.apt(["libespeak-ng-dev"])]),

        // Tiny C helpers that Swift cannot express (floating-point control register, the AVX2 int8 kernel).
        .target(name: "CSupport", path: "Sources/CSupport"),

        .target(name: "SSMAudio", dependencies: ["CSndFile", "CSoxr"], path: "Sources/SSMAudio"),
        .target(name: "SSMTensor", dependencies: ["COpenBLAS", "CFFTW", "CSupport"], path: "Sources/SSMTensor"),
        .target(name: "SSMFeatures", dependencies: ["CFFTW", "SSMTensor"], path: "Sources/SSMFeatures"),
        .target(name: "SSMLayers", dependencies: ["SSMTensor", "COpenBLAS", "CFFTW"], path: "Sources/SSMLayers"),
        .target(name: "SSMModels", dependencies: ["SSMLayers", "SSMTensor", "SSMFeatures"], path: "Sources/SSMModels"),
        .target(name: "SSMDecoding", dependencies: ["SSMTensor"], path: "Sources/SSMDecoding"),
        // Text → phonemes (espeak-ng) → acoustic model (causal SSM decoder) → streaming vocoder.
        .target(name: "SSMSynthesis", dependencies: ["CEspeakNG", "SSMModels", "SSMLayers", "SSMTensor"],
                path: "Sources/SSMSynthesis"),
        // The front door: the only module an application needs to import.
        .target(name: "SSMSpeech", dependencies: ["SSMAudio", "SSMFeatures", "SSMTensor", "SSMModels", "SSMDecoding", "SSMSynthesis"],
                path: "Sources/SSMSpeech"),
        .target(name: "SSMPipeline", dependencies: ["SSMSpeech", "SSMAudio", "SSMSynthesis"], path: "Sources/SSMPipeline"),
        // The speech server (`ssmspeech serve`): WebSocket streaming with streams batched across
        // connections, OpenAI-style HTTP endpoints, /health and /metrics. Built on the front door only.
        .target(name: "SSMServer", dependencies: [
                    "SSMSpeech",
                    .product(name: "Hummingbird", package: "hummingbird"),
                    .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                    .product(name: "Prometheus", package: "swift-prometheus"),
                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                    .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "NIOWebSocket", package: "swift-nio"),
                ], path: "Sources/SSMServer"),
        .executableTarget(
            name: "SSMSpeechCLI",
            dependencies: [
                "SSMSpeech", "SSMPipeline", "SSMServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Sources/SSMSpeechCLI"),
        // Quick per-frame timing of the recurrent step (release build): `swift run -c release step-timing`.
        .executableTarget(name: "step-timing", dependencies: ["SSMLayers", "SSMTensor", "SSMModels", "SSMTestSupport"],
                          path: "Benchmarks/StepTiming"),
        // Baselines the benchmarks compare the SSM layers with (causal attention with a KV cache); not part of the library.
        .target(name: "SSMBaselines", dependencies: ["SSMLayers", "SSMTensor", "COpenBLAS"], path: "Benchmarks/Baselines"),
        // The scaling proof: per-step cost and state memory vs stream length, attention vs S4D vs Mamba.
        .executableTarget(name: "scaling", dependencies: ["SSMLayers", "SSMTensor", "SSMTestSupport", "SSMBaselines"],
                          path: "Benchmarks/Scaling"),
        // Many streams per core: batched stepping (SGEMM over streams) vs separate steps.
        .executableTarget(name: "multistream", dependencies: ["SSMModels", "SSMTensor", "SSMTestSupport"],
                          path: "Benchmarks/MultiStream"),
        // Where synthesis time goes: `swift run -c release synth-timing [VOICE_DIR] [TEXT]`.
        .executableTarget(name: "synth-timing", dependencies: ["SSMSynthesis", "SSMTensor"], path: "Benchmarks/SynthTiming"),
        // The ordo-one/benchmark suite: per-frame hot paths (zero-malloc thresholds), decoding, transcription,
        // batched streams, synthesis. `swift package benchmark`, or Benchmarks/scripts/benchmark_table.sh for the
        // checked run that writes Benchmarks/results/benchmarks.md.
        .executableTarget(
            name: "SSMBenchmarks",
            dependencies: [
                "SSMAudio", "SSMFeatures", "SSMLayers", "SSMModels", "SSMDecoding", "SSMSpeech", "SSMSynthesis", "SSMTensor",
                "SSMTestSupport", .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/SSMBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        // libFuzzer targets (Fuzz/run.sh builds them with -sanitize=fuzzer,address -DFUZZING); in ordinary
        // builds they are regression runners over their seed corpus.
        .target(name: "FuzzSupport", path: "Fuzz/Support"),
        .executableTarget(name: "fuzz-wav", dependencies: ["SSMAudio", "FuzzSupport"], path: "Fuzz/FuzzWAV"),
        .executableTarget(name: "fuzz-model", dependencies: ["SSMModels", "SSMTensor", "FuzzSupport"], path: "Fuzz/FuzzModel"),
        .executableTarget(name: "fuzz-text", dependencies: ["SSMSynthesis", "FuzzSupport"], path: "Fuzz/FuzzText"),
        .executableTarget(name: "fuzz-config", dependencies: ["SSMModels", "SSMDecoding", "SSMSynthesis", "FuzzSupport"], path: "Fuzz/FuzzConfig"),
        // Tests: one target per module; shared fixtures live in Tests/Fixtures (exported by Training/export_fixtures.py).
        .target(name: "SSMTestSupport", dependencies: ["SSMTensor", "SSMModels", "SSMLayers"], path: "Tests/SSMTestSupport"),
        .testTarget(name: "SSMAudioTests", dependencies: ["SSMAudio", "CSndFile"], path: "Tests/SSMAudioTests"),
        .testTarget(name: "SSMFeaturesTests", dependencies: ["SSMFeatures", "SSMAudio", "SSMTensor", "SSMTestSupport"], path: "Tests/SSMFeaturesTests"),
        .testTarget(name: "SSMLayersTests", dependencies: ["SSMLayers", "SSMTensor", "SSMTestSupport", "SSMBaselines"], path: "Tests/SSMLayersTests"),
        .testTarget(name: "SSMDecodingTests", dependencies: ["SSMDecoding", "SSMTensor", "SSMTestSupport"], path: "Tests/SSMDecodingTests"),
        .testTarget(name: "SSMSpeechTests", dependencies: ["SSMSpeech", "SSMModels", "SSMDecoding", "SSMTensor", "SSMTestSupport"],
                    path: "Tests/SSMSpeechTests"),
        .testTarget(name: "SSMPipelineTests", dependencies: ["SSMPipeline", "SSMSpeech", "SSMModels", "SSMDecoding", "SSMTensor", "SSMTestSupport"],
                    path: "Tests/SSMPipelineTests"),
        // The command line: run as a process (built beside the tests), and its own pieces (@testable).
        .testTarget(name: "SSMSpeechCLITests", dependencies: ["SSMSpeechCLI", "SSMSpeech", "SSMModels", "SSMSynthesis", "SSMTensor", "SSMAudio", "SSMTestSupport"],
                    path: "Tests/SSMSpeechCLITests",
                    // Swift 5 mode: these tests drive the binary as a child process from helper threads and
                    // share fixtures between XCTest's class setUp and the tests in static properties (XCTest
                    // runs them one at a time); annotating every such helper buys no safety.
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        // The server's pieces (protocol messages, multipart parsing, the engine loop); the running server
        // is tested over loopback by Tests/server (pytest, a WebSocket client) in .ci/test.
        .testTarget(name: "SSMServerTests", dependencies: ["SSMServer", "SSMSpeech", "SSMTestSupport"],
                    path: "Tests/SSMServerTests"),
        .testTarget(name: "SSMSynthesisTests", dependencies: ["SSMSynthesis", "SSMModels", "SSMTensor", "SSMTestSupport"],
                    path: "Tests/SSMSynthesisTests"),
        .testTarget(name: "SSMModelsTests", dependencies: ["SSMModels", "SSMLayers", "SSMTensor", "SSMDecoding", "SSMTestSupport"], path: "Tests/SSMModelsTests"),
    ],
    swiftLanguageModes: [.v6]
)
