"""``Waits``: a clock and a sleep for tests, so that nothing in the pipeline waits for real."""


class Waits:
    """An injected sleep that records every wait and returns at once, moving its own clock
    (``now``) on by the time asked: a throttle given both sees its pauses end."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.time = 0.0

    def now(self) -> float:
        return self.time

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self.time += max(0.0, seconds)
