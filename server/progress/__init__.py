"""Study data derived from the room transcript: per-concept progress and study goals."""
