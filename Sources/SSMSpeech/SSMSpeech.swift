// SSMSpeech: the one module an application imports.
//
//     import SSMSpeech
//
//     let recognizer = try SpeechRecognizer(model: "Resources/models/mamba-30ms")
//     print(try recognizer.transcribe(contentsOf: "speech.wav").text)
//
// - `SpeechRecognizer` (shareable) loads a model folder as the command line does; `makeStream()`
//   gives a `RecognitionStream` that takes audio at any rate, chunk by chunk, with partial results
//   and endpointing; `transcribe(contentsOf:)` / `transcribe(samples:sampleRate:)` do a whole file or
//   buffer.
// - `SpeechSynthesizer` (shareable) speaks text: whole (`synthesize`), or streamed as an
//   asynchronous sequence of sample chunks (`speak`), with back-pressure.
// - `AudioFile` reads any file libsndfile reads and writes WAV.
//
// The engine modules below this one (SSMAudio, SSMFeatures, SSMTensor, SSMLayers, SSMModels,
// SSMDecoding, SSMSynthesis) stay importable for those who build their own models; the names an
// application needs from them are re-exported here. Docs/ARCHITECTURE.md has the module map.

import SSMAudio
import SSMDecoding
import SSMModels
import SSMSynthesis
import SSMTensor

// Errors, one type per module, each with a one-line description naming the file at fault
// (`SpeechError`, this module's own, is in Recognition/SpeechRecognizer.swift).
public typealias AudioError = SSMAudio.AudioError
public typealias ModelError = SSMModels.ModelError
public typealias WeightError = SSMTensor.WeightError
public typealias LMError = SSMDecoding.LMError
public typealias SynthesisError = SSMSynthesis.SynthesisError

// Model and voice folders, weight precision.
public typealias ModelFolder = SSMModels.ModelFolder
public typealias VoiceFolder = SSMSynthesis.VoiceFolder
public typealias MatrixPrecision = SSMTensor.MatrixPrecision

// Models built in code (`SpeechRecognizer(encoder:decoder:endpoint:)`).
public typealias Encoder = SSMModels.Encoder
public typealias EncoderConfig = SSMModels.EncoderConfig
public typealias NGramLM = SSMDecoding.NGramLM
public typealias CTCBeamSearchOptions = SSMDecoding.CTCBeamSearchOptions

// Accepted audio, raw PCM and WAV streams (bytes in any pieces → samples), and audio writers.
public typealias AudioLimits = SSMAudio.AudioLimits
public typealias RawPCMFormat = SSMAudio.RawPCMFormat
public typealias PCMEncoding = SSMAudio.PCMEncoding
public typealias PCMStreamParser = SSMAudio.PCMStreamParser
public typealias AudioSink = SSMAudio.AudioSink
public typealias WAVFileWriter = SSMAudio.WAVFileWriter
public typealias WAVStreamWriter = SSMAudio.WAVStreamWriter

/// Process-wide compute settings.
public enum Compute {
    /// Threads OpenBLAS may use for one matrix product. 1 (the default) is fastest for streaming,
    /// whose matrices are small; use more streams, not more threads, to fill the cores. OpenBLAS's pool
    /// is created when the library loads (`OPENBLAS_NUM_THREADS` threads, else one per core); this grows
    /// it but never shrinks it, so set `OPENBLAS_NUM_THREADS=1` in the environment of a process that
    /// should not keep one idle thread per core.
    public static func setThreads(_ n: Int) { BLAS.setThreads(max(1, n)) }
}
