// ServerMetrics.swift: what `GET /metrics` reports (Prometheus text format, swift-prometheus).

import Foundation
import Prometheus

/// The server's counters, gauges and histogram (Docs/SERVER.md, "Metrics"). Thread-safe.
public final class ServerMetrics: Sendable {
    /// Why a request or stream was refused or closed by a limit (the `reason` label).
    public enum Rejection: String, Sendable, CaseIterable {
        case capacity, badConfig = "bad_config", tooBig = "too_big", idle, slowClient = "slow_client"
        case uploadTooBig = "upload_too_big", badRequest = "bad_request"
    }

    public let registry = PrometheusCollectorRegistry()
    let activeStreams: Gauge
    let streamsTotal: Counter
    let audioSeconds: Counter
    let computeSeconds: Counter
    let chunkLatency: DurationHistogram
    let rtf: Gauge
    private let rejected: [Rejection: Counter]
    private let totals = RTFTotals()

    public init() {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "ssmspeech", metricName: metric, unitName: unit, helpText: help)
        }
        activeStreams = registry.makeGauge(descriptor: name("active_streams", "", "WebSocket streams open now"))
        streamsTotal = registry.makeCounter(descriptor: name("streams", "total", "Streams accepted since start"))
        audioSeconds = registry.makeCounter(descriptor: name("audio_seconds", "total", "Audio seconds recognized (streams and uploads)"))
        computeSeconds = registry.makeCounter(descriptor: name("compute_seconds", "total", "Engine seconds spent recognizing them"))
        chunkLatency = registry.makeDurationHistogram(
            descriptor: name("chunk_latency", "seconds", "From an audio message's arrival to the end of the engine round that ran it"),
            buckets: [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000].map { Duration.milliseconds($0) })
        rtf = registry.makeGauge(descriptor: name("rtf", "", "Engine seconds per audio second since start (compute / audio)"))
        var r: [Rejection: Counter] = [:]
        for reason in Rejection.allCases {
            r[reason] = registry.makeCounter(descriptor: name("rejected", "total", "Requests and streams refused or closed by a limit"),
                                             labels: [("reason", reason.rawValue)])
        }
        rejected = r
    }

    func reject(_ reason: Rejection) { rejected[reason]?.increment() }

    /// Counts recognized audio and the engine time it took (and updates the RTF gauge).
    func recognized(audioSeconds audio: Double, computeSeconds compute: Double) {
        if audio > 0 { audioSeconds.increment(by: audio) }
        computeSeconds.increment(by: compute)
        rtf.set(totals.add(audio: audio, compute: compute))
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Running totals of audio and compute seconds, for the RTF gauge.
final class RTFTotals: @unchecked Sendable {
    private let lock = NSLock()
    private var audio = 0.0, compute = 0.0

    /// Adds and returns compute / audio (0 before any audio).
    func add(audio a: Double, compute c: Double) -> Double {
        lock.lock(); defer { lock.unlock() }
        audio += a; compute += c
        return audio > 0 ? compute / audio : 0
    }
}
