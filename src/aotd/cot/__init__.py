"""Step 3: turn traces into rationales (CoTs) and keep those that pass two-step verification."""
