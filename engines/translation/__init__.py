"""Translation engines: base interface, registry by name, fallback wrapper, providers."""
from engines.translation.base import Capabilities, Translation, Translator
from engines.translation.fallback import FallbackTranslator
from engines.translation.registry import TranslatorRegistry

__all__ = ["Capabilities", "FallbackTranslator", "Translation", "Translator", "TranslatorRegistry"]
