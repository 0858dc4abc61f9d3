"""xAI Grok as a premium provider of all three kinds: streaming speech recognition (`/stt` over
WebSocket), translation (chat completions) and speech synthesis (`/tts`). Wire facts, with where
each comes from, are in docs/providers/xai.md and next to the code that relies on them."""
from engines.xai.common import XAIConfig

__all__ = ["XAIConfig"]
