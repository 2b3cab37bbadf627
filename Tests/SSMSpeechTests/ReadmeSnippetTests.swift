import Foundation
import XCTest

/// The README's "Use it from Swift" snippets are compiled: each one appears verbatim in the example
/// program `Examples/EmbedSSMSpeech`, which CI builds and runs (`Examples/EmbedSSMSpeech/check.sh`).
final class ReadmeSnippetTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testEverySwiftSnippetOfTheReadmeIsInTheExample() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(contentsOf: Self.root.appendingPathComponent("Examples/EmbedSSMSpeech/Sources/embed-ssmspeech/main.swift"),
                                 encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "## Use it from Swift").dropFirst().first?
            .components(separatedBy: "\n## ").first, "README has a 'Use it from Swift' section")
        let snippets = section.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```").first! }
        XCTAssertGreaterThanOrEqual(snippets.count, 3, "recognizer, stream and synthesizer snippets")
        for snippet in snippets {
            XCTAssertTrue(example.contains(snippet), "README snippet missing from the example:\n\(snippet)")
        }
        // The example imports nothing but the front door.
        let imports = example.split(separator: "\n").filter { $0.hasPrefix("import ") }
        XCTAssertEqual(imports, ["import SSMSpeech"])
    }
}
