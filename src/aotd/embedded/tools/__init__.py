"""Tools that read the embedded world's pixels; ``aotd.embedded.candidates`` registers them."""
