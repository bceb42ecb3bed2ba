def _short_path(filename, keep=2):
    parts = filename.replace("\\", "/").split("/")
    return "/".join(parts[-keep:])


def format_frame(frame):
    location = f"{_short_path(frame.filename)}:{frame.lineno} in {frame.function}"
    code = frame.line.strip()
    return f"{location}\n    > {code}"


def summarize(trace, limit=5):
    """The last `limit` frames, innermost last, then the exception line."""
    frames = trace.frames[-limit:]
    parts = [format_frame(frame) for frame in frames]
    hidden = len(trace.frames) - len(frames)
    if hidden:
        parts.insert(0, f"... {hidden} earlier frame(s)")
    parts.append(f"{trace.exc_type}: {trace.message}" if trace.message else trace.exc_type)
    return "\n".join(parts)
