"""What the notebook shows: progress lines, graph drawings and short notes (no widgets yet)."""
