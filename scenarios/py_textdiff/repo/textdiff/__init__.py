"""Line diffs without context lines, and applying them."""

from textdiff.patch import PatchError, patch
from textdiff.unified import diff

__all__ = ["PatchError", "diff", "patch"]
