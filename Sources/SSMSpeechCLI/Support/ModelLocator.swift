import Foundation
import SSMSpeech

/// Finds a model folder (`config.json` + `model.safetensors`) from a `--model NAME|PATH` argument.
///
/// A PATH is used as is. A NAME is looked up as `models/NAME` in, in order: `$SSMSPEECH_RESOURCES`,
/// (the name `default` means the model named in `models/DEFAULT`)
/// the `Resources/` folder next to the executable's package (`.build/<config>/ssmspeech` → `Resources/`),
/// and `./Resources`.
enum ModelLocator {
    static let defaultName = "default"

    static func resourceDirectories() -> [String] {
        var dirs: [String] = []
        if let env = ProcessInfo.processInfo.environment["SSMSPEECH_RESOURCES"], !env.isEmpty { dirs.append(env) }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = dir.appendingPathComponent("Resources")
            if ["models", "voices", "bench", "samples"].contains(where: { FileManager.default.fileExists(atPath: candidate.appendingPathComponent($0).path) }) {
                dirs.append(candidate.path)
                break
            }
            dir = dir.deletingLastPathComponent()
        }
        dirs.append(FileManager.default.currentDirectoryPath + "/Resources")
        var seen = Set<String>()
        return dirs.map { URL(fileURLWithPath: $0).standardizedFileURL.path }.filter { seen.insert($0).inserted }
    }

    /// The first existing `relativePath` (e.g. "bench/bench.wav") under the resource directories.
    static func resource(_ relativePath: String) -> String? {
        resourceDirectories().map { ($0 as NSString).appendingPathComponent(relativePath) }
            .first { FileManager.default.fileExists(atPath: $0) }
    }

    static func locate(_ nameOrPath: String?) throws -> String {
        try find(nameOrPath, folder: "models", required: "config.json",
                 notAFolder: { ModelError.cannotRead(path: $0, reason: "not a model folder (no config.json)") },
                 notFound: { ModelError.modelNotFound($0, searched: $1) })
    }

    /// A voice folder (`config.json`, `acoustic.safetensors`, `vocoder.safetensors`) from `--voice NAME|PATH`:
    /// as `locate`, under `voices/` (the name `default` means the voice named in `voices/DEFAULT`).
    static func locateVoice(_ nameOrPath: String?) throws -> String {
        try find(nameOrPath, folder: "voices", required: "config.json",
                 notAFolder: { SynthesisError.cannotRead(path: $0, reason: "not a voice folder (no config.json)") },
                 notFound: { SynthesisError.voiceNotFound($0, searched: $1) })
    }

    private static func find(_ nameOrPath: String?, folder: String, required: String,
                             notAFolder: (String) -> Error, notFound: (String, [String]) -> Error) throws -> String {
        let arg = nameOrPath ?? defaultName
        var isDir: ObjCBool = false
        if arg.contains("/") || FileManager.default.fileExists(atPath: arg, isDirectory: &isDir) && isDir.boolValue {
            guard FileManager.default.fileExists(atPath: (arg as NSString).appendingPathComponent(required)) else {
                throw notAFolder(arg)
            }
            return arg
        }
        let searched = resourceDirectories().map { ($0 as NSString).appendingPathComponent(folder) }
        for dir in searched {
            var name = arg
            if arg == defaultName, let named = try? String(contentsOfFile: (dir as NSString).appendingPathComponent("DEFAULT"), encoding: .utf8) {
                name = named.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let candidate = (dir as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: (candidate as NSString).appendingPathComponent(required)) { return candidate }
        }
        throw notFound(arg, searched)
    }
}
