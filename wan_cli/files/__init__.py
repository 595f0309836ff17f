"""Files on disk: reference images read, images downloaded and named, provenance written."""
