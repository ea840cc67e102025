"""Results tables and figures: our runs next to the paper's published numbers."""
