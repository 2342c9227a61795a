"""Step 4: dual-mode training data from verified CoTs, the λ-weighted trainer, the students."""
