// StreamProtocol.swift: the messages of `/v1/stream` (Docs/SERVER.md, "Streaming recognition").

import Foundation
import SSMSpeech

/// The client's first message: how its audio is encoded, and optional endpoint settings.
///
///     {"sample_rate": 16000, "encoding": "s16le", "channels": 1,
///      "endpoint": {"trailing_silence": 0.8, "max_utterance": 30}}
public struct StreamConfig: Equatable, Sendable {
    /// Default: 16 kHz, s16le, mono.
    public var format = RawPCMFormat()
    /// nil: the server's default endpointing.
    public var endpoint: EndpointConfig?

    public init() {}

    static let keys: Set<String> = ["sample_rate", "encoding", "channels", "endpoint"]
    static let endpointKeys: Set<String> = ["trailing_silence", "max_utterance"]

    /// Parses and checks the config message; throws `StreamProtocolError` naming the first problem.
    public static func parse(_ text: String, defaultEndpoint: EndpointConfig = .default) throws -> StreamConfig {
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw StreamProtocolError.badConfig("the first message must be a JSON object (the stream config)")
        }
        guard let dict = object as? [String: Any] else {
            throw StreamProtocolError.badConfig("the stream config must be a JSON object")
        }
        if let unknown = Set(dict.keys).subtracting(keys).sorted().first {
            throw StreamProtocolError.badConfig("unknown config key \"\(unknown)\" (known: \(keys.sorted().joined(separator: ", ")))")
        }
        var config = StreamConfig()
        if let v = dict["sample_rate"] {
            let rate = try integer(v, "sample_rate")
            guard AudioLimits.sampleRates.contains(rate) else {
                throw StreamProtocolError.badConfig("sample_rate must be \(AudioLimits.sampleRates.lowerBound)…\(AudioLimits.sampleRates.upperBound) Hz, got \(rate)")
            }
            config.format.sampleRate = rate
        }
        if let v = dict["encoding"] {
            guard let name = v as? String, let e = PCMEncoding(rawValue: name) else {
                throw StreamProtocolError.badConfig("encoding must be one of \(PCMEncoding.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.format.encoding = e
        }
        if let v = dict["channels"] {
            let c = try integer(v, "channels")
            guard AudioLimits.channels.contains(c) else {
                throw StreamProtocolError.badConfig("channels must be \(AudioLimits.channels.lowerBound)…\(AudioLimits.channels.upperBound), got \(c)")
            }
            config.format.channels = c
        }
        if let v = dict["endpoint"] {
            guard let e = v as? [String: Any] else { throw StreamProtocolError.badConfig("endpoint must be a JSON object") }
            if let unknown = Set(e.keys).subtracting(endpointKeys).sorted().first {
                throw StreamProtocolError.badConfig("unknown endpoint key \"\(unknown)\" (known: \(endpointKeys.sorted().joined(separator: ", ")))")
            }
            var endpoint = defaultEndpoint
            if let s = e["trailing_silence"] { endpoint.trailingSilence = try seconds(s, "endpoint.trailing_silence") }
            if let s = e["max_utterance"] { endpoint.maxUtterance = try seconds(s, "endpoint.max_utterance") }
            config.endpoint = endpoint
        }
        return config
    }

    /// JSON `true`/`false` (which Foundation may also hand out as a number).
    private static func isBool(_ v: Any) -> Bool {
        if type(of: v) == Bool.self { return true }
        #if canImport(Darwin)
        if let n = v as? NSNumber { return CFGetTypeID(n) == CFBooleanGetTypeID() }
        return false
        #else
        // swift-corelibs-foundation reads true/false as NSNumber(value: Bool), type "c"; JSON numbers
        // come as integer ("q") or double ("d") numbers.
        guard let n = v as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
        #endif
    }

    private static func integer(_ v: Any, _ name: String) throws -> Int {
        if !isBool(v), let n = v as? NSNumber, let i = Int(exactly: n.doubleValue) { return i }
        throw StreamProtocolError.badConfig("\(name) must be an integer")
    }

    private static func seconds(_ v: Any, _ name: String) throws -> Double {
        guard !isBool(v), let n = v as? NSNumber else {
            throw StreamProtocolError.badConfig("\(name) must be a number of seconds")
        }
        let s = n.doubleValue
        if let p = RangeCheck.problem(name, s, RecognizerOptions.endpointSeconds) { throw StreamProtocolError.badConfig(p) }
        return s
    }
}

/// A client message the protocol does not allow: sent to the client as `{"type":"error",…}`, then
/// the connection closes with `closeCode`.
public enum StreamProtocolError: Error, Equatable, CustomStringConvertible {
    case badConfig(String)
    case badMessage(String)
    case badAudio(String)

    public var description: String {
        switch self {
        case .badConfig(let m), .badMessage(let m), .badAudio(let m): return m
        }
    }
}

/// Control messages after the config: only `{"type":"end"}`.
enum ControlMessage {
    case end

    static func parse(_ text: String) throws -> ControlMessage {
        guard let data = text.data(using: .utf8),
              let dict = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw StreamProtocolError.badMessage("a text message must be a JSON object such as {\"type\":\"end\"}")
        }
        guard let type = dict["type"] as? String else { throw StreamProtocolError.badMessage("a text message needs \"type\"") }
        switch type {
        case "end": return .end
        default: throw StreamProtocolError.badMessage("unknown message type \"\(type)\" (audio goes in binary messages; \"end\" ends it)")
        }
    }
}

/// Server → client messages that are not `stream --json` lines.
enum ServerMessage {
    static func ready(sampleRate: Int, frameSeconds: Double) -> String {
        "{\"type\":\"ready\",\"sample_rate\":\(sampleRate),\"frame_seconds\":\(TranscriptFormatter.number(frameSeconds))}"
    }
    static func done(duration: Double) -> String {
        "{\"type\":\"done\",\"duration\":\(TranscriptFormatter.number(duration))}"
    }
    static func error(_ message: String) -> String {
        "{\"type\":\"error\",\"message\":\(TranscriptFormatter.jsonString(message))}"
    }
}
