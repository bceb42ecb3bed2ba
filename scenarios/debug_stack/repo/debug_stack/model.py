from dataclasses import dataclass, field


@dataclass(frozen=True)
class Frame:
    filename: str
    lineno: int
    function: str
    line: str | None = None  # source line; None when the interpreter had none to show


@dataclass
class Trace:
    frames: list[Frame] = field(default_factory=list)
    exc_type: str = ""
    message: str = ""

    @property
    def innermost(self):
        return self.frames[-1] if self.frames else None
