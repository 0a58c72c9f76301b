"""Finding the image viewer (pages/image_viewer.py) and its downloads in an AppTest run."""


def viewer_charts(at) -> list:
    """The viewers' pictures: the viewer component's instances, each a Plotly figure of one PNG image trace."""
    return [
        c
        for c in at.get("component_instance")
        if c.proto.component_name.endswith(".cxr_viewer") and '"type": "image"' in c.proto.json_args
    ]


def download_keys(at) -> set[str]:
    """The keys of the download buttons on the page (their widget ids end in the key)."""
    return {b.proto.id.split("-", 2)[-1] for b in at.get("download_button")}
