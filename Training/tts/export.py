"""Exports the trained voice to the engine's format and writes the synthesizer's golden fixtures.

    python -m Training.tts.export --run Training/runs/tts-slt --name slt     # voice + its fixture
    python -m Training.tts.export --tiny                                     # tiny random-model fixture

A voice folder ``Resources/voices/<name>/`` holds ``config.json`` (TTSConfig), ``acoustic.safetensors`` and
``vocoder.safetensors`` (float32, the PyTorch state_dict names). Fixtures (``Tests/Fixtures``), computed by
this PyTorch reference in float64:
* ``tts_frontend.json``: sentences -> phoneme strings and token ids (``frontend.py``, libespeak-ng).
* ``voice_<name>.safetensors`` / ``tts_tiny.safetensors`` (+ ``tts_tiny/`` voice folder): token ids,
  durations, normalised mel frames and audio samples of one utterance.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Training"))
from tts import frontend  # noqa: E402
from tts.model import (AcousticConfig, AcousticModel, TTSConfig, Vocoder, VocoderConfig,  # noqa: E402
                       synthesize_audio)
from ssmspeech_ref.encoder import S4DConfig  # noqa: E402

FIXTURES = ROOT / "Tests" / "Fixtures"
FRONTEND_SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Hello, world! How are you today?",
    "It's 3 o'clock; Mr. Smith paid $5.50 for 2 tickets.",
    "On March 3rd, 1999, about 45% of the 1,234 voters said: no.",
    "Wait... what?! Really?",
    "She said \"yes\" - and left.",
    "Dr. Jones lives at 221 Baker St. near the 1990s cafe.",
    "naïve café résumé",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "A, B, C; x: y.",
    "Call 555-0123 at 7:30 pm.",
    "Numbers like 0, 13, 101 and 1000000.",
]


def write_voice(out: Path, cfg: TTSConfig, acoustic: AcousticModel, vocoder: Vocoder, meta: dict):
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(cfg.to_json() + "\n", encoding="utf-8")
    for name, model in (("acoustic", acoustic), ("vocoder", vocoder)):
        t = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
        save_file(t, str(out / f"{name}.safetensors"), metadata={k: str(v) for k, v in meta.items()})


def fixture(path: Path, cfg: TTSConfig, acoustic: AcousticModel, vocoder: Vocoder, text: str):
    a64, v64 = AcousticModel(cfg).double().eval(), Vocoder(cfg).double().eval()
    a64.load_state_dict({k: v.double() for k, v in acoustic.state_dict().items()})
    v64.load_state_dict({k: v.double() for k, v in vocoder.state_dict().items()})
    ph = frontend.phoneme_string(text)
    tokens = torch.tensor(frontend.encode(ph, cfg.vocab))
    audio, mel, dur = synthesize_audio(a64, v64, tokens)
    save_file({"tokens": tokens.float(), "durations": dur.float(), "mel": mel.float().contiguous(),
               "audio": audio.float().contiguous()}, str(path), metadata={"text": text, "phonemes": ph})
    print(f"wrote {path}: {len(tokens)} tokens, {mel.shape[0]} frames, {audio.shape[0]} samples")


def frontend_fixture(vocab):
    rows = []
    for s in FRONTEND_SENTENCES:
        ph = frontend.phoneme_string(s)
        rows.append({"text": s, "phonemes": ph, "tokens": frontend.encode(ph, vocab)})
    (FIXTURES / "tts_frontend.json").write_text(json.dumps({"vocab": vocab, "cases": rows}, ensure_ascii=False, indent=1) + "\n",
                                                encoding="utf-8")
    print(f"wrote {FIXTURES / 'tts_frontend.json'}: {len(rows)} sentences")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=ROOT / "Training/runs/tts-slt")
    ap.add_argument("--name", default="slt")
    ap.add_argument("--tiny", action="store_true", help="only the tiny random test voice and the front-end fixture")
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    if a.tiny:
        vocab = frontend.build_vocab([frontend.phoneme_string(s) for s in FRONTEND_SENTENCES])
        cfg = TTSConfig(voice="tiny", source="random weights (test fixture)", vocab=vocab,
                        acoustic=AcousticConfig(d_model=16, enc_layers=2, dur_layers=1, dec_d_model=12, dec_layers=2,
                                                dec_ffn_mult=2, s4d=S4DConfig(d_state=8)),
                        vocoder=VocoderConfig(dim=16, intermediate=24, layers=2))
        ac, vo = AcousticModel(cfg).eval(), Vocoder(cfg).eval()
        with torch.no_grad():  # durations of a few frames per token, mel statistics not the identity
            ac.duration.proj.bias.fill_(1.2)
            ac.mel_mean.normal_(-5, 1); ac.mel_std.uniform_(1, 3)
            for p in vo.parameters():
                p.mul_(1.5)
        write_voice(FIXTURES / "tts_tiny", cfg, ac, vo, {"format": "ssmspeech-tts-v1", "note": "random"})
        fixture(FIXTURES / "tts_tiny.safetensors", cfg, ac, vo, FRONTEND_SENTENCES[1])
        frontend_fixture(vocab)
        return
    ack = torch.load(a.run / "acoustic.pt", weights_only=False)
    vck = torch.load(a.run / "vocoder.pt", weights_only=False)
    cfg = TTSConfig.from_dict(ack["config"])
    ac, vo = AcousticModel(cfg).eval(), Vocoder(cfg).eval()
    ac.load_state_dict(ack["model"]); vo.load_state_dict(vck["model"])
    out = ROOT / "Resources" / "voices" / a.name
    write_voice(out, cfg, ac, vo, {"format": "ssmspeech-tts-v1", "acoustic_step": ack["step"], "vocoder_step": vck["step"]})
    n = sum(v.numel() for v in ac.state_dict().values()) + sum(v.numel() for v in vo.state_dict().values())
    print(f"wrote {out} ({n} parameters)")
    fixture(FIXTURES / f"voice_{a.name}.safetensors", cfg, ac, vo, "The quick brown fox, it said, jumps over 2 lazy dogs.")


if __name__ == "__main__":
    main()
