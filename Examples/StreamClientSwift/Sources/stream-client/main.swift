// Streams a 16-bit PCM WAV file to `ssmspeech serve` at real-time pace and prints every reply:
// the JSON config, 40 ms binary messages, {"type":"end"}; then partials, finals, "done", close 1000.
import Foundation
import Logging
import NIOCore
import WSClient

let args = CommandLine.arguments
guard args.count == 3 else {
    FileHandle.standardError.write(Data("usage: stream-client ws://HOST:PORT/v1/stream FILE.wav\n".utf8))
    exit(2)
}
let wav = try Data(contentsOf: URL(fileURLWithPath: args[2]))
guard wav.count > 44, wav.prefix(4) == Data("RIFF".utf8) else {
    FileHandle.standardError.write(Data("error: \(args[2]) is not a WAV file\n".utf8))
    exit(1)
}
let rate = wav[24..<28].withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) }
let pcm = [UInt8](wav.dropFirst(44))  // a canonical 44-byte header (the server also reads a whole WAV stream)

let close = try await WebSocketClient.connect(url: args[1], logger: Logger(label: "stream-client")) { inbound, outbound, _ in
    try await outbound.write(.text(#"{"sample_rate": \#(rate), "encoding": "s16le", "channels": 1}"#))
    let sender = Task {
        let step = rate * 2 / 25  // 40 ms of 16-bit mono
        for start in stride(from: 0, to: pcm.count, by: step) {
            try await outbound.write(.binary(ByteBuffer(bytes: pcm[start..<min(start + step, pcm.count)])))
            try await Task.sleep(for: .milliseconds(40))  // as a microphone would deliver it
        }
        try await outbound.write(.text(#"{"type": "end"}"#))
    }
    for try await message in inbound.messages(maxSize: 1 << 20) {
        if case .text(let line) = message { print(line) }  // ready, partial, final, done (or error)
    }
    try await sender.value
}
print("closed with code", close.map { "\($0.closeCode)" } ?? "none")
