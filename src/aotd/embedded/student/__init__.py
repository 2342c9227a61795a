"""The embedded student (``model``), its frozen vision tower (``vision``) and tokenizer."""
