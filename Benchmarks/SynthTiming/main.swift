// Where synthesis time goes, single-threaded, release build, model loaded:
//   swift run -c release synth-timing [VOICE_DIR] [TEXT]
// Prints per stage: text front end (normalise + espeak-ng), encoder + durations, then per 10 ms frame the
// decoder and the vocoder for chunk sizes 1…16, time to the first samples, and the RTF of the whole text.
import Foundation
import SSMSynthesis
import SSMTensor

BLAS.setThreads(1)
let args = CommandLine.arguments
let dir = args.count > 1 ? args[1] : "Resources/voices/slt"
let text = args.count > 2 ? args[2] : "The birch canoe slid on the smooth planks."
let tts = try Synthesizer(directory: dir)
let hop = tts.config.audio.hop, sr = Double(tts.sampleRate)

func ms(_ t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 }
func best(_ reps: Int = 7, _ body: () throws -> Void) rethrows -> Double {
    var b = Double.infinity
    for _ in 0..<reps { let t0 = DispatchTime.now().uptimeNanoseconds; try body(); b = min(b, ms(t0)) }
    return b
}

let tCold0 = DispatchTime.now().uptimeNanoseconds
_ = try tts.utterances(text)
print(String(format: "first front-end call after loading (cold)   %7.3f ms", ms(tCold0)))
let tCold1 = DispatchTime.now().uptimeNanoseconds
_ = try tts.synthesizeAll(text)  // warm-up (page faults, OpenBLAS buffers)
print(String(format: "first synthesis after loading (cold)        %7.3f ms", ms(tCold1)))
var utts: [[Int32]] = []
let tFront = try best { utts = try tts.utterances(text) }
var plan = tts.acoustic.prepare(tokens: utts[0])
let tPrep = best { plan = tts.acoustic.prepare(tokens: utts[0]) }
print(String(format: "text: %d chars, %d utterance(s), %d tokens, %d frames (%.2f s)", text.count, utts.count,
             utts[0].count, plan.frames, Double(plan.frames * hop) / sr))
print(String(format: "front end (normalise, clauses, espeak-ng)  %7.3f ms", tFront))
print(String(format: "encoder + durations                         %7.3f ms", tPrep))

let session = tts.makeSession()
for chunk in [1, 4, 16, 32, 64] {
    let frames = plan.frames - plan.frames % chunk
    let st = tts.acoustic.makeState()
    let tDec = best {
        st.reset()
        var t = 0
        while t < frames { tts.acoustic.decode(plan, frames: t..<(t + chunk), state: st); t += chunk }
    }
    let voc = tts.vocoder.makeState()
    let mel = [Float](repeating: 0.1, count: chunk * tts.config.audio.nMels)
    let tVoc = best {
        tts.vocoder.reset(voc)
        for _ in 0..<(frames / chunk) { _ = mel.withUnsafeBufferPointer { tts.vocoder.process($0.baseAddress!, rows: chunk, state: voc) } }
    }
    print(String(format: "chunk %2d frames: decoder %6.1f µs/frame, vocoder %6.1f µs/frame → RTF %.4f", chunk,
                 tDec * 1000 / Double(frames), tVoc * 1000 / Double(frames), (tDec + tVoc) / 1000 / (Double(frames * hop) / sr)))
}

for (chunk, maxChunk) in [(4, 16), (4, 64), (8, 64)] {
    tts.chunkFrames = chunk; tts.maxChunkFrames = maxChunk
    var first = 0.0, total = 0.0, samples = 0
    first = best {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var got = false
        _ = try? tts.speak(tokens: try! tts.utterances(text)[0], session: session) { _ in
            if !got { got = true; first = ms(t0) }
        }
    }
    first = Double.infinity
    for _ in 0..<7 {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var f = -1.0
        samples = try tts.synthesize(text) { _ in if f < 0 { f = ms(t0) } }
        total = ms(t0)
        first = min(first, f)
    }
    print(String(format: "chunks %d…%d: text → first samples %.2f ms; whole text %.1f ms for %.2f s audio: RTF %.4f",
                 chunk, maxChunk, first, total, Double(samples) / sr, total / 1000 / (Double(samples) / sr)))
}
