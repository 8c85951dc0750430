"""What the notebook shows: the live run view and runs browser (anywidget) with their static
fallbacks, text progress lines, graph drawings and short notes."""
