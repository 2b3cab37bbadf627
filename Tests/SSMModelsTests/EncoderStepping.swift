import SSMModels
import SSMTensor

extension Encoder {
    /// The logits of stepping a fresh state frame by frame over `feats` (T, n_mels): one row per
    /// output frame, to compare with `forward(feats)` or a PyTorch reference.
    func steppedLogits(_ feats: Matrix) -> Matrix {
        let st = makeState()
        var out = Matrix(rows: 0, cols: vocabularySize)
        feats.data.withUnsafeBufferPointer { p in
            for t in 0..<feats.rows where step(p.baseAddress! + t * feats.cols, state: st) {
                out.append(rowsOf: Matrix(rows: 1, cols: vocabularySize, data: st.logits.array))
            }
        }
        return out
    }
}
