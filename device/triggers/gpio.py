"""A PIR motion sensor on a GPIO pin, through gpiozero's MotionSensor.

gpiozero chooses its pin factory as usual (lgpio, RPi.GPIO, native...), so `GPIOZERO_PIN_FACTORY`
is honoured, and tests use its MockFactory. Each rising edge of the smoothed motion signal fires once.
"""
from __future__ import annotations

import logging

from device.config import GpioTriggerConfig
from device.triggers.base import EdgeTrigger, TriggerError

log = logging.getLogger(__name__)


class GpioTrigger(EdgeTrigger):
    name = "gpio"

    def __init__(self, config: GpioTriggerConfig) -> None:
        super().__init__()
        self.config = config
        self._sensor = None

    def start(self) -> None:
        try:
            from gpiozero import MotionSensor
        except ImportError as exc:  # pragma: no cover - gpiozero is an install requirement
            raise TriggerError(
                f"the gpio trigger needs gpiozero ({exc}); install python3-gpiozero or pip install gpiozero"
            ) from exc
        c = self.config
        try:
            self._sensor = MotionSensor(
                c.pin, pull_up=c.pull_up, queue_len=c.queue_len, sample_rate=c.sample_rate, threshold=c.threshold
            )
        except Exception as exc:
            raise TriggerError(
                f"cannot open the PIR sensor on BCM pin {c.pin}: {exc} "
                "(check [trigger.gpio] pin, that the user is in the 'gpio' group, and GPIOZERO_PIN_FACTORY)"
            ) from exc
        self._sensor.when_motion = self.fire
        log.info("PIR sensor on BCM pin %d (queue_len=%d, sample_rate=%g/s, threshold=%g)",
                 c.pin, c.queue_len, c.sample_rate, c.threshold)

    @property
    def sensor(self):
        """The gpiozero MotionSensor (None before start): for diagnostics and tests."""
        return self._sensor

    @property
    def motion_detected(self) -> bool:
        return bool(self._sensor is not None and self._sensor.motion_detected)

    def close(self) -> None:
        if self._sensor is not None:
            self._sensor.close()
            self._sensor = None

    def describe(self) -> str:
        return f"gpio PIR on BCM {self.config.pin}"
