"""The providers this service can use, one package each (local/, xai/, google/): its settings
section, its engines per kind and its record (base.Provider), which is all the service reads of
it. A provider is added by writing its package and listing its record here (ARCHITECTURE.md,
"Adding a provider")."""
from __future__ import annotations

from typing import Any

from engines.providers import google, local, xai
from engines.providers.base import Provider

PROVIDERS: tuple[Provider[Any], ...] = (local.PROVIDER, xai.PROVIDER, google.PROVIDER)
