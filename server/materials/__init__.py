"""Study materials: receiving uploads, reading their text, storing it, and searching it."""
