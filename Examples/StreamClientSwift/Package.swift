// swift-tools-version: 6.1
// A minimal Swift client of `ssmspeech serve`'s /v1/stream (Docs/SERVER.md), on swift-websocket's
// WSClient (SwiftNIO). Its own package, so the server's build does not pull in a TLS stack.
//
//   swift run -c release stream-client ws://127.0.0.1:8080/v1/stream ../../Resources/samples/sample.wav
import PackageDescription

let package = Package(
    name: "StreamClientSwift",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(name: "stream-client", dependencies: [
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
