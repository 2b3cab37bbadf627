// swift-tools-version: 6.1
// An application that embeds SSMSpeech: it depends on the package by path and imports only `SSMSpeech`.
// Run from the repository root: `Examples/EmbedSSMSpeech/check.sh` (builds it, runs it, and compares
// its transcript with the command line's).
import PackageDescription

let package = Package(
    name: "EmbedSSMSpeech",
    dependencies: [.package(name: "SSMSpeech", path: "../..")],
    targets: [
        .executableTarget(name: "embed-ssmspeech", dependencies: [.product(name: "SSMSpeech", package: "SSMSpeech")],
                          path: "Sources/embed-ssmspeech"),
    ],
    swiftLanguageModes: [.v6]
)
