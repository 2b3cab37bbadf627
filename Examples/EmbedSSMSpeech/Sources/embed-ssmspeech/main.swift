// The README's "Use it from Swift" snippets, as one program (Tests/SSMSpeechTests/ReadmeSnippetTests.swift
// checks that every snippet of that README section appears here verbatim, so they are all compiled).
// Run it from the repository root: the paths are the bundled model, sample and voice.
import SSMSpeech

// MARK: Transcribe a file
let recognizer = try SpeechRecognizer(model: "Resources/models/mamba-30ms")
print(try recognizer.transcribe(contentsOf: "Resources/samples/sample.wav").text)

// MARK: Stream audio as it arrives
let (audio, rate) = try AudioFile.read(path: "Resources/samples/sample.wav", sampleRate: 48_000)
let stream = recognizer.makeStream()
for start in stride(from: 0, to: audio.count, by: 960) {  // 20 ms pieces at 48 kHz
    let piece = Array(audio[start..<min(start + 960, audio.count)])
    let update = stream.accept(samples: piece, sampleRate: rate)
    for utterance in update.finals { print("final:", utterance.text) }
    if let partial = update.partial { print("partial:", partial.text) }
}
print(stream.finish().text)
// (for check.sh: the pieces end with what the whole 48 kHz buffer gives at once)
print("whole 48 kHz:", recognizer.transcribe(samples: audio, sampleRate: rate).text)

// MARK: Speak
let tts = try SpeechSynthesizer(voice: "Resources/voices/slt")
var speech: [Float] = []
for try await chunk in tts.speak("The birch canoe slid on the smooth planks.") { speech += chunk }
try AudioFile.writeWAV(path: "/tmp/embed-ssmspeech.wav", samples: speech, sampleRate: tts.sampleRate)
print("synthesized \(speech.count) samples at \(tts.sampleRate) Hz")
