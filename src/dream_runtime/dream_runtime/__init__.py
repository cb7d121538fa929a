"""How each Dreaming Machine node runs as a process of its own."""
