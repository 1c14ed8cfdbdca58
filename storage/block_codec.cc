// Placeholder; the codecs land next.
