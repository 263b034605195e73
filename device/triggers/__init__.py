"""Triggers: what tells the daemon to capture a burst. One module a backend, chosen by `[trigger] kind`."""
from __future__ import annotations

from device.config import TriggerConfig
from device.triggers.base import Trigger, TriggerError


def make_trigger(config: TriggerConfig) -> Trigger:
    """Build the configured backend; its library is imported only here, only when chosen."""
    if config.kind == "gpio":
        from device.triggers.gpio import GpioTrigger

        return GpioTrigger(config.gpio)
    if config.kind == "interval":
        from device.triggers.interval import IntervalTrigger

        return IntervalTrigger(config.interval)
    if config.kind == "continuous":
        from device.triggers.continuous import ContinuousTrigger

        return ContinuousTrigger()
    raise TriggerError(f"unknown trigger kind {config.kind!r}")


__all__ = ["Trigger", "TriggerError", "make_trigger"]
