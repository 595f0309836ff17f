"""Saving one image of a run: download (or decode) it under its name with its provenance (PNG
text chunks, written as it arrives once the answer is over), then a sidecar JSON and its
history row."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from wan_cli.api.events import ImageRef
    from wan_cli.files.download import SavedImage
    from wan_cli.files.sink import PngText
    from wan_cli.run.model import Job, RunConfig, RunRecord
    from wan_cli.ui.render import View


def save_image(
    client: httpx.Client,
    image: ImageRef,
    record: RunRecord,
    config: RunConfig,
    job: Job,
    view: View,
    cancel: threading.Event,
) -> SavedImage:
    from wan_cli.files.download import download_image, save_inline
    from wan_cli.files.naming import image_stem

    if job.name is not None:
        stem = f"{job.name}-{image.index + 1}"
    else:
        stem = image_stem(job.prompt, record.created, image.index + 1)
    png_text = _png_text(record, config, job, image) if config.metadata else None

    def progress(done: int, total: int | None) -> None:
        view.download_progress(image.index, done, total)

    if image.data is not None:
        saved = save_inline(
            image.data,
            directory=config.output_dir,
            stem=stem,
            index=image.index,
            max_bytes=config.max_download_bytes,
            png_text=png_text,
            cancel=cancel,
        )
    else:
        saved = download_image(
            client,
            image.url or "",
            directory=config.output_dir,
            stem=stem,
            index=image.index,
            max_bytes=config.max_download_bytes,
            retries=config.retries,
            on_progress=progress,
            png_text=png_text,
            cancel=cancel,
        )
    if saved.error is None and saved.path is not None and config.metadata:
        from wan_cli.files.provenance import write_sidecar

        try:
            meta = _metadata(record, config, job, image)
            # The image's own hash cannot live inside it (embedding changes it): the sidecar has it.
            write_sidecar(saved.path, {**meta, "sha256": saved.sha256, "bytes": saved.bytes})
        except OSError as error:
            saved = replace(saved, error=f"saved, but the sidecar could not be written: {error}")
    record.recorder.saved(saved)
    view.image_saved(saved)
    return saved


def _metadata(record: RunRecord, config: RunConfig, job: Job, image: ImageRef) -> dict[str, Any]:
    from wan_cli.files.provenance import build_metadata

    return build_metadata(
        prompt=job.prompt,
        negative_prompt=job.parameters.get("negative_prompt"),
        parameters=job.parameters,
        references=list(job.references),
        model=config.model,
        provider=config.provider,
        request_id=record.request_id,
        source_url=image.url,
        usage=record.usage.raw if record.usage else None,
        index=image.index,
        text=record.full_text,
        created=record.created,
    )


def _png_text(record: RunRecord, config: RunConfig, job: Job, image: ImageRef) -> PngText:
    """The image's PNG text: its provenance wants the whole run, so it is known once the answer
    is over. The download asks for it as the bytes arrive and waits for it at the end."""
    from wan_cli.files.sink import PngText

    known: list[dict[str, str]] = []  # built once, by the image's own download thread

    def wait() -> dict[str, str]:
        from wan_cli.files.provenance import png_text_entries

        record.answer_over.wait()
        if not known:
            known.append(png_text_entries(_metadata(record, config, job, image)))
        return known[0]

    def ready() -> dict[str, str] | None:
        return wait() if record.answer_over.is_set() else None

    return PngText(ready, wait)
