"""Text-to-speech engines: interface, registry by name, fallback wrapper, cache, providers.

Piper runs a neural model, so providers are used only in the speech process, never in the web one.
"""
from engines.tts.base import TTS, Synthesis, TTSCapabilities

__all__ = ["TTS", "Synthesis", "TTSCapabilities"]
