"""One module per query of the client: inputs -> venues -> concurrent fetch -> analytics -> result."""
