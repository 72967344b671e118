"""A simulated instrument for the Python reference gateway, the same as the
TypeScript gateway's: motors (``stage.*``, ``motor.*``) that travel at a speed,
a temperature controller (``zone.*``, ``oven.*``) that ramps at a rate, a
detector (``detector*``) that exposes for a while, plain registers for any
other address, and actions and computes that take a fixed time. Faults make
chosen operations go wrong a chosen number of times, so a run can show a hold
and a resume."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

Progress = Callable[[float], None]

# Progress is reported this often during a long operation.
TICK_SECONDS = 0.25


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Instrument(Protocol):
    """What the gateway needs from an instrument."""

    def set(self, address: str, value: float, on_progress: Progress) -> None: ...
    def read(self, address: str) -> float: ...
    def act(self, name: str, params: dict[str, Any], on_progress: Progress) -> None: ...
    def capture(self, address: str, capture_name: str) -> dict[str, Any]: ...
    def compute(self, command: list[str], parameters: dict[str, Any], on_progress: Progress) -> dict[str, Any]: ...


class InstrumentError(Exception):
    """An instrument failure, reported as the step's ``error_class`` and ``message``."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


@dataclass
class Fault:
    """``offset``: reads of ``target`` are off by ``value``; ``error``: operations on ``target`` raise ``value``."""

    kind: str
    target: str
    value: Any
    times: int = 1


@dataclass(frozen=True)
class Delays:
    motor_speed: float = 10.0  # units per second
    ramp_rate: float = 50.0  # kelvin per second
    action_seconds: float = 0.5
    exposure_seconds: float = 0.2
    compute_seconds: float = 1.0


DEFAULT_DELAYS = Delays()
"""A quick bench instrument; a real one is far slower."""
NO_DELAYS = Delays(math.inf, math.inf, 0.0, 0.0, 0.0)
"""No delay at all: for tests and for measuring the gateway's own overhead."""


def device_of(address: str) -> str:
    if re.match(r"^(stage|motor)\.", address):
        return "motor"
    if re.match(r"^(zone|oven)\.", address):
        return "temperature"
    if address.startswith("detector"):
        return "detector"
    return "register"


@dataclass
class SimulatedInstrument:
    clock: Clock = field(default_factory=SystemClock)
    delays: Delays = DEFAULT_DELAYS
    faults: list[Fault] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    frames: int = 0

    def set(self, address: str, value: float, on_progress: Progress) -> None:
        self._raise(address)
        device = device_of(address)
        start = self.values.get(address, 20.0 if device == "temperature" else 0.0)
        rate = {"motor": self.delays.motor_speed, "temperature": self.delays.ramp_rate}.get(device, math.inf)

        def moved(fraction: float) -> None:
            self.values[address] = start + (value - start) * fraction
            on_progress(fraction)

        self._take(abs(value - start) / rate, moved)
        self.values[address] = value

    def read(self, address: str) -> float:
        self._raise(address)
        fault = self._consume("offset", address)
        return self.values.get(address, 0.0) + (float(fault.value) if fault else 0.0)

    def act(self, name: str, params: dict[str, Any], on_progress: Progress) -> None:
        self._raise(name)
        self._take(self.delays.action_seconds, on_progress)

    def capture(self, address: str, capture_name: str) -> dict[str, Any]:
        self._raise(address)
        self._take(self.delays.exposure_seconds, lambda _: None)
        self.frames += 1
        exposure_ms = self.delays.exposure_seconds * 1000
        counts = 1000 + (self.frames * 7919) % 500
        return {"capture_name": capture_name, "frame": self.frames, "exposure_ms": exposure_ms, "counts": counts}

    def compute(self, command: list[str], parameters: dict[str, Any], on_progress: Progress) -> dict[str, Any]:
        self._raise(command[0] if command else "")
        self._take(self.delays.compute_seconds, on_progress)
        return {"exit_code": 0}

    def _raise(self, target: str) -> None:
        fault = self._consume("error", target)
        if fault is not None:
            raise InstrumentError(str(fault.value), f"{target}: simulated {fault.value}")

    def _consume(self, kind: str, target: str) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind and fault.target == target and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _take(self, seconds: float, on_progress: Progress) -> None:
        """Spends ``seconds`` on the clock in ticks, reporting the fraction done."""
        if not (0 < seconds < math.inf):
            return
        start = self.clock.now()
        while (elapsed := self.clock.now() - start) < seconds:
            self.clock.sleep(min(TICK_SECONDS, seconds - elapsed))
            on_progress(min(1.0, (self.clock.now() - start) / seconds))


def parse_fault(spec: str) -> Fault:
    """``offset:<target>:<offset>[:times]`` or ``error:<target>:<ErrorClass>[:times]``."""
    parts = spec.split(":")
    if len(parts) not in (3, 4) or not parts[1] or (len(parts) == 4 and not parts[3].isdigit()):
        raise ValueError(
            f"bad fault {spec!r}: use offset:<target>:<offset>[:times] or error:<target>:<ErrorClass>[:times]"
        )
    kind, target, value = parts[:3]
    fault = Fault(kind, target, value, int(parts[3]) if len(parts) == 4 else 1)
    if kind == "offset":
        return replace(fault, value=float(value))
    if kind == "error":
        return fault
    raise ValueError(f"bad fault {spec!r}: the kind is offset or error")
