#!/usr/bin/env python3
"""Streams a 16-bit WAV file to `ssmspeech serve` in real time and prints what comes back.

    pip install websockets
    python Examples/stream_client.py ws://127.0.0.1:8080/v1/stream Resources/samples/sample.wav
"""
import asyncio
import json
import sys
import wave

import websockets


async def main(url: str, path: str) -> None:
    with wave.open(path) as w:
        rate, channels, pcm = w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"sample_rate": rate, "encoding": "s16le", "channels": channels}))
        print(await ws.recv())                                 # {"type":"ready",...}

        async def send() -> None:
            step = rate * channels * 2 // 25                     # 40 ms of audio per message
            for i in range(0, len(pcm), step):
                await ws.send(pcm[i:i + step])
                await asyncio.sleep(0.04)                        # real-time pace, as from a microphone
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        async for message in ws:                                 # partials, finals, then "done"
            print(message)
        await sender
        print("closed with code", ws.close_code)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
