"""An HTML gallery: one self-contained `index.html` of generated images and what made them.

The page is built from provenance, not from file names: each image's sidecar (`foo.png.json`,
preferred) or else the JSON in its PNG "wan" text chunk; images of one run (same request id)
are grouped, with the run's interleaved text beside them. With `--history` the runs come from
the history database instead.

The page needs no network and no script: images are relative links from the page's own folder
(so keep the page beside them, or give `-o` and the links are made relative from there), or,
with `--embed`, JPEG thumbnails inlined as data URIs (Pillow) so the file travels alone. Every
card shows its images as same-size tiles, loaded eagerly (a headless browser's screenshot or
PDF shows them), the mode and parameters in words, the reference images of an edit, and for a
history run with unsaved images the command that can still fetch them.

Every piece of text (prompts, the service's text, file names) is HTML-escaped, and a Content
Security Policy forbids scripts and any fetch but local images, as a second line of defence.

Stdlib only (Pillow for `--embed`, imported when used).
"""

from wan_cli.ui.gallery.page import (
    GENERATOR_MARK,
    THUMBNAIL_SIDE,
    is_our_page,
    link_to,
    readable_parameters,
    render_html,
    thumbnail_data_uri,
    write_page,
)
from wan_cli.ui.gallery.runs import (
    IMAGE_SUFFIXES,
    Picture,
    Reference,
    Run,
    find_images,
    group_runs,
    mode_of,
    png_size,
    read_provenance,
    resolve_reference,
    runs_from_directory,
    runs_from_history,
)

__all__ = [
    "GENERATOR_MARK",
    "IMAGE_SUFFIXES",
    "THUMBNAIL_SIDE",
    "Picture",
    "Reference",
    "Run",
    "find_images",
    "group_runs",
    "is_our_page",
    "link_to",
    "mode_of",
    "png_size",
    "read_provenance",
    "readable_parameters",
    "render_html",
    "resolve_reference",
    "runs_from_directory",
    "runs_from_history",
    "thumbnail_data_uri",
    "write_page",
]
