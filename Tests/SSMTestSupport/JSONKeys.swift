import Foundation

/// The key paths (`"audio.sample_rate"`, …) of a JSON object, for checking that a config type writes the
/// same keys as the files it reads.
public func jsonKeyPaths(_ data: Data) throws -> Set<String> {
    func walk(_ v: Any, _ prefix: String, into out: inout Set<String>) {
        guard let d = v as? [String: Any] else { return }
        for (k, x) in d {
            let p = prefix.isEmpty ? k : prefix + "." + k
            out.insert(p)
            walk(x, p, into: &out)
        }
    }
    var out = Set<String>()
    walk(try JSONSerialization.jsonObject(with: data), "", into: &out)
    return out
}
