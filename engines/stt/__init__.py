"""Speech-to-text engines: streaming interface, registry by name, fallback wrapper, providers.

Model runtimes (faster-whisper, onnx VAD) are imported only by the providers that need them, and
only in the speech process: the web process never imports a model.
"""
from engines.stt.base import STT, SpeechEvent, SpeechStream, STTCapabilities

__all__ = ["STT", "STTCapabilities", "SpeechEvent", "SpeechStream"]
