"""Finding the image viewer (pages/image_viewer.py) and its downloads in an AppTest run."""


def viewer_charts(at) -> list:
    """The viewers' Plotly charts: the ones whose figure is a PNG image trace."""
    return [c for c in at.get("plotly_chart") if '"type":"image"' in c.proto.spec]


def download_keys(at) -> set[str]:
    """The keys of the download buttons on the page (their widget ids end in the key)."""
    return {b.proto.id.split("-", 2)[-1] for b in at.get("download_button")}
